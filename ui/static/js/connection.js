import { api, ApiError } from './api.js';
import { h, badge, healthBadge, countdown, ago, confirmDialog, describeCheck } from './util.js';
import { navigate, showBanner } from './app.js';
import { eventItem, endUserEvents } from './events.js';
import { connectCard, who } from './connections.js';
import { timelineCard } from './timeline.js';

// connectionPage shows one end user's connection to a per-user datasource:
// its authorization and health, its connection config, its events, and the
// actions (refresh, check health, revoke, delete, and a new connect link
// to connect again).
export async function connectionPage(app, id, endUserId) {
  const dsPath = `/api/v1/datasources/${encodeURIComponent(id)}`;
  const path = `${dsPath}/connections/${encodeURIComponent(endUserId)}`;
  const d = await api('GET', dsPath);
  const c = await api('GET', path).catch((err) => {
    // The API says "no such datasource" for a missing connection too.
    if (err instanceof ApiError && err.status === 404) throw new ApiError(404, { detail: `${endUserId} has no connection to ${d.name}.` });
    throw err;
  });
  const back = `/datasources/${encodeURIComponent(id)}`;

  const statusBox = h('dl', { class: 'facts', id: 'authorization' });
  const healthBox = h('dl', { class: 'facts', id: 'health' });
  const render = (c) => {
    const a = c.authorization;
    statusBox.replaceChildren(
      h('dt', { text: 'Status' }), h('dd', {}, badge(a.status)),
      h('dt', { text: 'Token expires' }), h('dd', { id: 'expires' }, countdown(a.expiresAt)),
      h('dt', { text: 'Last refresh' }), h('dd', { text: ago(a.lastRefreshedAt), title: a.lastRefreshedAt || '' }),
      h('dt', { text: 'Refresh token' }), h('dd', { text: a.hasRefreshToken ? 'held' : 'none' }),
      h('dt', { text: 'Granted scope' }), h('dd', { text: a.grantedScope || '—' }),
      h('dt', { text: 'Last error' }), h('dd', { id: 'last-error', class: a.lastError ? 'error-text' : 'muted', text: a.lastError || 'none' }),
      h('dt', { text: 'Connected' }), h('dd', { text: ago(c.createdAt), title: new Date(c.createdAt).toLocaleString() }),
      h('dt', { text: 'Changed' }), h('dd', { text: ago(c.updatedAt), title: new Date(c.updatedAt).toLocaleString() }));
    const hl = c.health;
    healthBox.replaceChildren(
      h('dt', { text: 'Health' }), h('dd', {}, healthBadge(hl)),
      ...(hl ? [
        h('dt', { text: 'Checked' }), h('dd', { text: ago(hl.checkedAt), title: new Date(hl.checkedAt).toLocaleString() }),
        h('dt', { text: 'Answer' }), h('dd', { id: 'health-status', text: hl.status ? `HTTP ${hl.status}` : 'none' }),
        h('dt', { text: 'Detail' }), h('dd', { id: 'health-detail', class: hl.detail && !hl.ok ? 'error-text' : 'muted', text: hl.detail || 'none' }),
      ] : []),
      h('dt', { text: 'Check' }), h('dd', { class: d.healthCheck ? '' : 'muted', text: d.healthCheck ? describeCheck(d.healthCheck) : 'none configured' }));
    // What fills the URL's {placeholders} for this end user: their own
    // values over the datasource's.
    const own = c.connectionConfig || {}, shared = d.connectionConfig || {};
    const names = [...new Set([...Object.keys(shared), ...Object.keys(own)])].sort();
    configBox.replaceChildren(...(names.length
      ? names.map((k) => [h('dt', {}, h('code', { text: k })),
        h('dd', { 'data-config': k }, h('code', { text: k in own ? own[k] : shared[k] }),
          h('span', { class: 'muted small', text: k in own ? ' this connection\'s' : ' the datasource\'s' }))]).flat()
      : [h('dt', { text: 'none' }), h('dd', { class: 'muted', text: 'neither the datasource nor this connection sets any' })]));
  };
  const configBox = h('dl', { class: 'facts', id: 'connection-config' });

  const busy = async (btn, fn) => {
    btn.disabled = true;
    try { await fn(); } catch (err) { showBanner('error', `${btn.textContent} failed:`, err.message); } finally { btn.disabled = false; }
  };
  const refreshBtn = h('button', { type: 'button', id: 'refresh', text: 'Refresh now' });
  refreshBtn.addEventListener('click', () => busy(refreshBtn, async () => {
    const n = await api('POST', `${path}/refresh`);
    render(n);
    loadEvents();
    if (n.authorization.status === 'authorized') showBanner('success', 'Refreshed.');
    else showBanner('error', `Refresh: ${n.authorization.status}.`, n.authorization.lastError);
  }));
  const checkBtn = h('button', { type: 'button', id: 'check', text: 'Check health', hidden: !d.healthCheck });
  checkBtn.addEventListener('click', () => busy(checkBtn, async () => {
    const n = await api('POST', `${path}/check`);
    render(n);
    loadEvents();
    if (n.health?.ok) showBanner('success', 'Healthy.', n.health.status ? `The check answered HTTP ${n.health.status}.` : '');
    else showBanner('error', 'The health check failed.', n.health?.detail || '');
  }));
  const revokeBtn = h('button', { type: 'button', id: 'revoke', text: 'Revoke' });
  revokeBtn.addEventListener('click', () => busy(revokeBtn, async () => {
    const r = await api('POST', `${path}/revoke`);
    render(await api('GET', path));
    loadEvents();
    showBanner('info', 'Tokens erased; the connection stays until deleted.', r.revokedAtProvider ? 'The provider revoked them too.' : (r.providerError || 'The provider publishes no revocation endpoint.'));
  }));
  const deleteBtn = h('button', { type: 'button', class: 'danger', id: 'delete', text: 'Delete' });
  deleteBtn.addEventListener('click', async () => {
    if (!(await confirmDialog(`Delete ${endUserId}'s connection to ${d.name}? Its tokens are revoked at the provider and erased.`))) return;
    await busy(deleteBtn, async () => {
      await api('DELETE', path);
      navigate(back, { keepBanner: true });
      showBanner('info', `Deleted ${endUserId}'s connection.`);
    });
  });

  const tl = timelineCard(path);
  const events = h('ol', { class: 'events', id: 'events' });
  async function loadEvents() {
    try {
      const list = await endUserEvents(id, endUserId);
      events.replaceChildren(...list.map((e) => eventItem(e, { linkEndUser: false })));
      if (!list.length) events.replaceChildren(h('li', { class: 'muted', text: 'No events yet.' }));
    } catch { /* the event log is optional */ }
  }

  // Connecting again: a new link for the same end user, with what the
  // app said about them last time.
  const reconnect = connectCard(d, { title: 'Connect again', onCreated: () => loadEvents(), endUserId, endUser: c.endUser || {}, connectionConfig: c.connectionConfig || {} });

  app.replaceChildren(
    h('p', { class: 'crumbs' }, h('a', { href: back, 'data-link': true, id: 'back', text: `← ${d.name}` })),
    h('div', { class: 'page-head' },
      h('div', {},
        h('h1', { id: 'end-user-id', text: endUserId }),
        h('p', { class: 'muted', id: 'end-user', text: who(c.endUser) || 'End user of ' + d.name })),
      h('div', { class: 'actions' }, refreshBtn, checkBtn, revokeBtn, deleteBtn)),
    h('div', { class: 'cols' },
      h('section', { class: 'card' }, h('h2', { text: 'Authorization' }), statusBox),
      h('section', { class: 'card' }, h('h2', { text: 'Health' }), healthBox,
        h('h2', { text: 'Connection config' }), configBox)),
    tl.node,
    h('div', { class: 'cols' },
      h('section', { class: 'card' }, h('h2', { text: 'Events' }), events),
      reconnect));
  render(c);
  loadEvents();
  tl.refresh();

  const timer = setInterval(async () => {
    try { render(await api('GET', path)); } catch { /* next time */ }
    tl.refresh();
  }, 15000);
  return () => clearInterval(timer);
}
