import { api, proxy, startAuthorization } from './api.js';
import { h, badge, countdown, ago, copyText, confirmDialog, healthBadge, perUser, describeCheck, authLabel, isStatic } from './util.js';
import { navigate, showBanner } from './app.js';
import { eventItem } from './events.js';
import { connectionsCard, connectCard } from './connections.js';
import { timelineCard } from './timeline.js';
import { agentCard } from './agents.js';

// detailPage shows one datasource: its authorization, the actions
// (authorize, refresh, revoke, edit, delete), a test request through the
// proxy, and its recent events. A per-user datasource has no token of its
// own: its page lists its end users' connections and makes connect links
// instead, and a test request names the end user it is for.
export async function detailPage(app, id) {
  // The callback came back here with the outcome in the query: show it
  // once, then take it out of the address bar (keeping the connection
  // list's own query).
  const q = new URLSearchParams(location.search);
  const who = q.get('endUserId') ? ` ${q.get('endUserId')}` : '';
  if (q.get('result') === 'authorized') {
    if (who) showBanner('success', `Connected${who}.`, 'grantd holds their token and keeps it fresh.');
    else showBanner('success', 'Authorized.', 'grantd holds a token and keeps it fresh.');
  } else if (q.get('result') === 'error') {
    showBanner('error', `${who ? `Connecting${who}` : 'Authorization'} failed: ${q.get('error') || 'error'}.`, q.get('error_description') || '');
  }
  if (q.has('result')) {
    for (const k of ['result', 'datasource', 'endUserId', 'error', 'error_description']) q.delete(k);
    history.replaceState({}, '', location.pathname + (q.size ? '?' + q : ''));
  }

  const path = `/api/v1/datasources/${encodeURIComponent(id)}`;
  const [d, config] = await Promise.all([api('GET', path), api('GET', '/api/v1/config')]);
  const interactive = d.auth.grantType === 'authorization_code';
  const many = perUser(d);

  const statusBox = h('dl', { class: 'facts', id: 'authorization' });
  const renderStatus = (a) => {
    statusBox.replaceChildren(
      h('dt', { text: 'Status' }), h('dd', {}, badge(a.status)),
      h('dt', { text: 'Token expires' }), h('dd', { id: 'expires' }, countdown(a.expiresAt)),
      h('dt', { text: 'Last refresh' }), h('dd', { text: ago(a.lastRefreshedAt), title: a.lastRefreshedAt || '' }),
      h('dt', { text: 'Refresh token' }), h('dd', { text: a.hasRefreshToken ? 'held' : 'none' }),
      h('dt', { text: 'Granted scope' }), h('dd', { text: a.grantedScope || '—' }),
      h('dt', { text: 'Last error' }), h('dd', { id: 'last-error', class: a.lastError ? 'error-text' : 'muted', text: a.lastError || 'none' }),
      ...keyFacts(d.auth),
      ...(d.healthCheck ? [h('dt', { text: 'Health' }), h('dd', { id: 'health' }, healthBadge(d.health))] : []));
    authorizeBtn.textContent = a.status === 'authorized' ? 'Authorize again' : 'Authorize';
  };

  const busy = async (btn, fn) => {
    btn.disabled = true;
    try { await fn(); } catch (err) { showBanner('error', `${btn.textContent} failed:`, err.message); } finally { btn.disabled = false; }
  };
  const authorizeBtn = h('button', { type: 'button', class: 'primary', id: 'authorize', hidden: !interactive || many });
  authorizeBtn.addEventListener('click', () => busy(authorizeBtn, () => startAuthorization(d.id)));
  const refreshBtn = h('button', { type: 'button', id: 'refresh', text: 'Refresh now', hidden: many });
  refreshBtn.addEventListener('click', () => busy(refreshBtn, async () => {
    const a = await api('POST', `${path}/refresh`);
    renderStatus(a);
    loadEvents();
    if (a.status === 'authorized') showBanner('success', 'Refreshed.');
    else showBanner('error', `Refresh: ${a.status}.`, a.lastError);
  }));
  const revokeBtn = h('button', { type: 'button', id: 'revoke', text: 'Revoke', hidden: many || isStatic(d.auth) });
  revokeBtn.addEventListener('click', () => busy(revokeBtn, async () => {
    const r = await api('POST', `${path}/revoke`);
    renderStatus(r);
    loadEvents();
    showBanner('info', 'Tokens erased.', r.revokedAtProvider ? 'The provider revoked them too.' : (r.providerError || 'The provider publishes no revocation endpoint.'));
  }));
  const deleteBtn = h('button', { type: 'button', class: 'danger', id: 'delete', text: 'Delete' });
  deleteBtn.addEventListener('click', async () => {
    const what = many ? 'Every end user\'s connection is deleted and its tokens revoked at the provider.' : 'Its tokens are revoked at the provider and erased.';
    if (!(await confirmDialog(`Delete ${d.name}? ${what}`))) return;
    await busy(deleteBtn, async () => {
      await api('DELETE', path);
      navigate('/', { keepBanner: true });
      showBanner('info', `Deleted ${d.name}.`);
    });
  });

  // Test request.
  const method = h('select', { id: 'test-method', 'aria-label': 'Method' }, ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => h('option', { text: m })));
  const testPath = h('input', { id: 'test-path', 'aria-label': 'Path', value: '/', placeholder: '/v1/items?page=1' });
  const testBody = h('textarea', { id: 'test-body', rows: 3, 'aria-label': 'Body', placeholder: '{"optional": "JSON body"}' });
  const result = h('div', { id: 'test-result', class: 'result', hidden: true });
  const sendBtn = h('button', { type: 'submit', class: 'primary', id: 'test-send', text: 'Send' });
  const testUser = h('input', { id: 'test-end-user', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'user-42' });
  const testForm = h('form', { id: 'test-form', class: 'test' },
    many ? h('div', { class: 'as-user' }, h('label', { for: 'test-end-user', text: 'As end user' }), testUser,
      h('span', { class: 'muted small', text: 'sent as the Grantd-End-User header' })) : null,
    h('div', { class: 'inline' }, method, h('code', { class: 'muted', text: `${d.url.replace(/\/$/, '')}` }), testPath, sendBtn),
    testBody, result);
  testForm.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(sendBtn, async () => {
      const r = await proxy(d.id, method.value, testPath.value || '/', testBody.value, many ? testUser.value.trim() : '');
      let body = r.body;
      try { body = JSON.stringify(JSON.parse(r.body), null, 2); } catch { /* not JSON */ }
      result.replaceChildren(
        h('p', {}, h('span', { class: `code code-${String(r.status)[0]}xx`, id: 'test-status', text: `${r.status} ${r.statusText}` }), h('span', { class: 'muted', text: ` · ${r.ms} ms` })),
        h('details', {}, h('summary', { text: `Headers (${r.headers.length})` }),
          h('pre', { id: 'test-headers', text: r.headers.map(([k, v]) => `${k}: ${v}`).join('\n') })),
        h('pre', { id: 'test-response', text: body || '(empty body)' }));
      result.hidden = false;
    });
  });

  // Events.
  const events = h('ol', { class: 'events', id: 'events' });
  async function loadEvents() {
    try {
      const r = await api('GET', `/api/v1/events?datasource=${encodeURIComponent(d.id)}&limit=20`);
      events.replaceChildren(...r.events.map((e) => eventItem(e)));
      if (!r.events.length) events.replaceChildren(h('li', { class: 'muted', text: 'No events yet.' }));
    } catch { /* the event log is optional */ }
  }

  const redirectBox = interactive ? h('p', { class: 'redirect' }, h('span', { class: 'muted', text: 'Redirect URI: ' }), h('code', { text: config.redirectUri }), ' ',
    h('button', { type: 'button', class: 'small', id: 'copy-redirect', text: 'Copy', onclick: (e) => copyText(config.redirectUri, e.target) })) : null;
  const eventsCard = h('section', { class: 'card' }, h('h2', { text: 'Events' }), events);
  const head = h('div', { class: 'page-head' },
    h('div', {},
      h('h1', { id: 'ds-name', text: d.name }),
      h('p', { class: 'muted', id: 'ds-kind', text: `${authLabel(d.auth)}${many ? ', per end user' : ''} · ${d.url}` }),
      d.description ? h('p', { id: 'ds-description', class: 'description', text: d.description }) : null,
      d.healthCheck ? h('p', { class: 'muted small', id: 'ds-health-check', text: `Health check: ${describeCheck(d.healthCheck)}` }) : null),
    h('div', { class: 'actions' }, authorizeBtn, refreshBtn, revokeBtn,
      h('a', { href: `/datasources/${encodeURIComponent(d.id)}/edit`, 'data-link': true, class: 'button', id: 'edit', text: 'Edit' }), deleteBtn));
  const testCard = h('section', { class: 'card' }, h('h2', { text: 'Test a request through the proxy' }), testForm);

  if (many) {
    const conns = connectionsCard(d);
    const connect = connectCard(d, { onCreated: loadEvents });
    connect.append(redirectBox);
    app.replaceChildren(head, conns.node, h('div', { class: 'cols' }, connect, eventsCard), testCard, agentCard(d));
    conns.start();
    loadEvents();
    const timer = setInterval(loadEvents, 15000);
    return () => { conns.stop(); clearInterval(timer); };
  }

  const tl = timelineCard(path);
  app.replaceChildren(head,
    h('div', { class: 'cols' },
      h('section', { class: 'card' }, h('h2', { text: 'Authorization' }), statusBox, redirectBox),
      eventsCard),
    tl.node,
    testCard, agentCard(d));
  renderStatus(d.authorization);
  loadEvents();
  tl.refresh();

  // Keep the status current while the page is open.
  const timer = setInterval(async () => {
    try { renderStatus(await api('GET', `${path}/status`)); } catch { /* next time */ }
    tl.refresh();
  }, 15000);
  return () => clearInterval(timer);
}

// keyFacts describes the key material of a datasource by what the API
// shows of it: fingerprints and expiry, never a key.
function keyFacts(auth) {
  const out = [];
  const when = (at) => { const t = new Date(at); return h('dd', { class: t < new Date() ? 'error-text' : '', text: t.toLocaleString(), title: at }); };
  if (auth.privateKeySet || auth.serviceAccountJsonSet) {
    out.push(h('dt', { text: auth.privateKeySet ? 'Private key' : 'Service account key' }),
      h('dd', {}, auth.privateKeyFingerprint ? h('code', { id: 'key-fingerprint', title: 'SHA-256 of the public key', text: auth.privateKeyFingerprint })
        : h('span', { class: 'muted', text: auth.privateKeyRef || auth.serviceAccountJsonRef || 'set' })));
  }
  if (auth.clientCertificateExpiresAt) out.push(h('dt', { text: 'Certificate expires' }), when(auth.clientCertificateExpiresAt));
  if (auth.upstreamPrivateKeySet) {
    out.push(h('dt', { text: 'API client key' }), h('dd', {}, h('code', { text: auth.upstreamPrivateKeyFingerprint || auth.upstreamPrivateKeyRef || 'set' })));
  }
  if (auth.upstreamClientCertificateExpiresAt) out.push(h('dt', { text: 'API certificate expires' }), when(auth.upstreamClientCertificateExpiresAt));
  return out;
}

