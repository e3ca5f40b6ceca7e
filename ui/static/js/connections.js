import { api, ApiError } from './api.js';
import { h, badge, healthBadge, countdown, ago, copyText, connectionPath, validEndUserId, rows, STATUS_LABEL } from './util.js';

// The connections of a per-user datasource, on its page: a list with
// search, a status filter and paging, and a card that makes connect links.

const connectionsPath = (id) => `/api/v1/datasources/${encodeURIComponent(id)}/connections`;

// connectionsCard lists datasource d's connections a page at a time. The
// search is a prefix of the end user id (the API's ?prefix=); it finds
// end users by id only (not by name or email).
//
// The search, status and page size are kept in the address bar, so that
// going back from a connection's page finds the list as it was.
export function connectionsCard(d) {
  const params = new URLSearchParams(location.search);
  const search = h('input', {
    id: 'conn-search', type: 'search', autocomplete: 'off', spellcheck: 'false', maxlength: 256,
    placeholder: 'user-42', value: params.get('q') || '', 'aria-describedby': 'conn-search-help',
  });
  const status = h('select', { id: 'conn-status' },
    [['', 'Any status'], ...Object.entries(STATUS_LABEL)].map(([v, t]) => h('option', { value: v, selected: v === (params.get('status') || ''), text: t })));
  const limit = h('input', { id: 'conn-limit', type: 'number', min: 1, max: 500, step: 1, value: params.get('limit') || 25 });
  const table = h('table', { class: 'list', id: 'connection-table' });
  const note = h('p', { id: 'conn-note', class: 'muted', role: 'status', hidden: true });
  const prev = h('button', { type: 'button', id: 'conn-prev', text: '← Previous' });
  const next = h('button', { type: 'button', id: 'conn-next', text: 'Next →' });
  const pageInfo = h('span', { id: 'conn-page', class: 'muted', 'aria-live': 'polite' });
  const reloadBtn = h('button', { type: 'button', class: 'small', id: 'conn-reload', text: 'Reload' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of connections', hidden: true }, prev, pageInfo, next);

  // starts[i] is the cursor page i begins after ('' is the start); page
  // is the one shown.
  let starts = [''];
  let page = 0;
  let seq = 0; // the latest load; older answers are dropped
  let more = '';

  const size = () => Math.min(500, Math.max(1, Math.floor(Number(limit.value) || 25)));
  const list = async (q) => api('GET', `${connectionsPath(d.id)}?${q}`);

  // fetchPage returns page's connections and the cursor of the next page
  // ('' after the last).
  async function fetchPage(prefix, st, n) {
    const q = new URLSearchParams({ limit: String(n) });
    if (st) q.set('status', st);
    if (prefix) q.set('prefix', prefix);
    if (starts[page]) q.set('cursor', starts[page]);
    const r = await list(q);
    return { items: r.connections, next: r.nextCursor };
  }

  // The card is aria-busy from a change of the search until the list
  // that answers it is shown.
  const busy = (on) => (on ? node.setAttribute('aria-busy', 'true') : node.removeAttribute('aria-busy'));

  async function load() {
    const my = ++seq;
    busy(true);
    const prefix = search.value.trim(), st = status.value, n = size();
    keepInAddress(prefix, st, n);
    if (prefix && !validEndUserId(prefix)) {
      show([], '', `End user ids have no spaces and none of / ? # %: nothing matches "${prefix}".`);
      return;
    }
    const { items, next: after } = await fetchPage(prefix, st, n);
    if (my !== seq) return;
    let empty = '';
    if (!items.length) {
      const which = st ? ` ${STATUS_LABEL[st]}` : '';
      empty = prefix ? `No${which} connection of an end user id starting with "${prefix}".`
        : page > 0 ? 'No more connections.'
          : st ? `No${which} connections.` : 'No connections yet: make a connect link for an end user below.';
    }
    show(items, after, empty);
  }

  function show(items, after, empty) {
    busy(false);
    more = after;
    note.textContent = empty;
    note.hidden = !empty;
    table.hidden = !items.length;
    const cols = ['End user', 'Status', 'Health', 'Token expires', 'Last refresh', 'Last error'];
    table.replaceChildren(
      h('thead', {}, h('tr', {}, cols.map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, items.map((c) => h('tr', { 'data-end-user': c.endUserId, 'data-status': c.authorization.status },
        h('td', { 'data-label': cols[0] },
          h('a', { href: connectionPath(d.id, c.endUserId), 'data-link': true, class: 'end-user', text: c.endUserId }),
          who(c.endUser) ? h('div', { class: 'muted small', text: who(c.endUser) }) : null),
        h('td', { 'data-label': cols[1] }, badge(c.authorization.status)),
        h('td', { 'data-label': cols[2] }, d.healthCheck || c.health ? healthBadge(c.health) : h('span', { class: 'muted', text: '—' })),
        h('td', { 'data-label': cols[3] }, countdown(c.authorization.expiresAt)),
        h('td', { 'data-label': cols[4], text: ago(c.authorization.lastRefreshedAt) }),
        h('td', { 'data-label': cols[5], class: 'error-text', text: c.authorization.lastError || '' })))));
    prev.disabled = page === 0;
    next.disabled = !more;
    pager.hidden = page === 0 && !more;
    pageInfo.textContent = items.length ? `Page ${page + 1} · ${items.length} shown` : `Page ${page + 1}`;
  }

  const fail = (err) => {
    if (err.status === 401) return;
    show([], '', `The connections could not be read: ${err.message}`);
  };
  const node = h('section', { class: 'card', id: 'connections' });
  const restart = () => { starts = ['']; page = 0; load().catch(fail); };
  let typing = null;
  const soon = () => { busy(true); clearTimeout(typing); typing = setTimeout(restart, 250); };
  search.addEventListener('input', soon);
  limit.addEventListener('input', soon);
  status.addEventListener('change', restart);
  prev.addEventListener('click', () => { if (page > 0) { page--; load().catch(fail); } });
  next.addEventListener('click', () => {
    if (!more) return;
    starts[page + 1] = more;
    page++;
    load().catch(fail);
  });
  reloadBtn.addEventListener('click', () => load().catch(fail));
  const toolbar = h('form', { class: 'toolbar', id: 'conn-filter', role: 'search', onsubmit: (e) => { e.preventDefault(); clearTimeout(typing); restart(); } },
    h('div', { class: 'tool grow' }, h('label', { for: 'conn-search', text: 'End user id starts with' }), search,
      h('p', { class: 'help', id: 'conn-search-help', text: 'The app\'s own user id, as given to the connect link.' })),
    h('div', { class: 'tool' }, h('label', { for: 'conn-status', text: 'Status' }), status),
    h('div', { class: 'tool narrow' }, h('label', { for: 'conn-limit', text: 'Per page' }), limit));
  node.append(
    h('div', { class: 'card-head' }, h('h2', { text: 'Connections' }), reloadBtn),
    toolbar, table, note, pager);

  const timer = setInterval(() => { if (document.activeElement !== search) load().catch(() => {}); }, 15000);
  return { node, reload: () => load().catch(fail), start: () => load().catch(fail), stop: () => { clearInterval(timer); clearTimeout(typing); } };
}

// keepInAddress puts the list's search, status and page size in the
// query, without a history entry per keystroke.
function keepInAddress(prefix, st, n) {
  const q = new URLSearchParams(location.search);
  const set = (k, v) => (v ? q.set(k, v) : q.delete(k));
  set('q', prefix);
  set('status', st);
  set('limit', n === 25 ? '' : String(n));
  const s = q.toString();
  history.replaceState(history.state, '', location.pathname + (s ? '?' + s : ''));
}

// who is an end user's name and email, as the app gave them.
export function who(u) {
  return [u?.displayName, u?.email].filter(Boolean).join(' · ');
}

// connectCard makes connect links: the app backend's own user id, and
// optionally a name, an email and connection config for that end user.
// The link is shown with a Copy button until the next one; it works once,
// in one browser, until it expires.
export function connectCard(d, { title = 'Connect an end user', endUserId = '', endUser = {}, connectionConfig = {}, onCreated = () => {} } = {}) {
  const idInput = h('input', { id: 'connect-end-user', required: true, autocomplete: 'off', spellcheck: 'false', maxlength: 256, placeholder: 'user-42', value: endUserId, 'aria-describedby': 'connect-end-user-help' });
  const nameInput = h('input', { id: 'connect-display-name', autocomplete: 'off', placeholder: 'Ada Lovelace', value: endUser.displayName || '' });
  const emailInput = h('input', { id: 'connect-email', type: 'email', autocomplete: 'off', placeholder: 'ada@example.com', value: endUser.email || '' });
  const config = rows({ id: 'connect-config', name: 'connectionConfig', initial: connectionConfig, keyHint: 'subdomain', valueHint: 'acme', addText: '+ Add value' });
  const error = h('div', { class: 'banner banner-error', id: 'connect-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'connect-create', text: 'Create connect link' });
  const urlOut = h('input', { id: 'connect-url', readonly: true, 'aria-describedby': 'connect-url-help', onfocus: (e) => e.target.select() });
  const urlLabel = h('label', { for: 'connect-url', id: 'connect-url-label' });
  const copy = h('button', { type: 'button', id: 'copy-connect-url', text: 'Copy', onclick: (e) => copyText(urlOut.value, e.target) });
  const expires = h('span', { id: 'connect-expires' });
  const result = h('div', { class: 'connect-result', id: 'connect-result', hidden: true, 'aria-live': 'polite' },
    urlLabel, h('div', { class: 'copy-row' }, urlOut, copy),
    h('p', { class: 'help', id: 'connect-url-help' }, 'Send it to the end user. It works once, in one browser; it expires ', expires, '.'));

  const form = h('form', { id: 'connect-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'connect-end-user', text: 'End user id' }), idInput,
      h('p', { class: 'help', id: 'connect-end-user-help', text: 'The app\'s own id for this user. Connecting the same id again replaces that connection\'s tokens.' })),
    h('div', { class: 'grid2' },
      h('div', { class: 'field' }, h('label', { for: 'connect-display-name', text: 'Name (optional)' }), nameInput),
      h('div', { class: 'field' }, h('label', { for: 'connect-email', text: 'Email (optional)' }), emailInput)),
    h('details', { class: 'field', open: Object.keys(connectionConfig).length > 0 },
      h('summary', { text: 'Connection config (optional)' }),
      h('p', { class: 'help', text: 'This end user\'s values for the URL\'s {placeholders}, over the datasource\'s.' }),
      config.node),
    error,
    h('div', { class: 'actions' }, submit),
    result);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    idInput.removeAttribute('aria-invalid');
    const id = idInput.value.trim();
    if (!validEndUserId(id)) {
      fault(id ? 'An end user id is 1–256 printable ASCII characters without spaces or / ? # %.' : 'Give the end user\'s id.', true);
      return;
    }
    const body = { datasource: d.id, endUserId: id, connectionConfig: config.value() };
    const u = { displayName: nameInput.value.trim(), email: emailInput.value.trim() };
    if (u.displayName || u.email) body.endUser = u;
    submit.disabled = true;
    try {
      const r = await api('POST', '/api/v1/connect/sessions', body);
      urlLabel.textContent = `Connect link for ${u.displayName ? `${u.displayName} (${id})` : id}`;
      urlOut.value = r.connectUrl;
      expires.replaceChildren(countdown(r.expiresAt));
      result.hidden = false;
      result.dataset.endUser = id;
      copy.textContent = 'Copy';
      urlOut.focus();
      onCreated(id);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const fields = err.problem.errors || [];
      fault([err.problem.title || err.message, ...fields.map((f) => `${f.field}: ${f.message}`)].join(' '), fields.some((f) => f.field === 'endUserId'));
    } finally {
      submit.disabled = false;
    }
  });

  function fault(message, onId) {
    error.textContent = message;
    error.hidden = false;
    result.hidden = true;
    if (onId) { idInput.setAttribute('aria-invalid', 'true'); idInput.focus(); }
  }

  return h('section', { class: 'card', id: 'connect' }, h('h2', { text: title }), form);
}
