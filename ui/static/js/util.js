// Small DOM and formatting helpers. No innerHTML with data: every value
// goes in through textContent or attributes.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const STATUS_LABEL = {
  authorized: 'authorized',
  unauthorized: 'unauthorized',
  needs_reauthorization: 'needs re-authorization',
  error: 'error',
};

export function badge(status) {
  return h('span', { class: `badge badge-${status || 'unauthorized'}`, 'data-status': status || 'unauthorized', text: STATUS_LABEL[status] || status });
}

// healthBadge shows the outcome of the last health check: healthy,
// failing (with what the check saw as its title), or not checked yet.
export function healthBadge(health) {
  if (!health) return h('span', { class: 'badge badge-unauthorized', 'data-health': 'unknown', text: 'not checked' });
  const seen = health.status ? `HTTP ${health.status}` : 'no answer';
  return h('span', {
    class: `badge ${health.ok ? 'badge-authorized' : 'badge-error'}`, 'data-health': health.ok ? 'ok' : 'failing',
    title: `${seen}${health.detail ? ' — ' + health.detail : ''}, ${new Date(health.checkedAt).toLocaleString()}`,
    text: health.ok ? 'healthy' : 'failing',
  });
}

// describeCheck says what a health check does: GET /me → 200, every 6h.
export function describeCheck(hc) {
  const statuses = (hc.expectStatus?.length ? hc.expectStatus : [200]).join(' or ');
  return `${hc.method || 'GET'} ${hc.path} → ${statuses}, every ${duration(hc.intervalSeconds || 21600)}`;
}

// perUser reports whether a datasource holds one connection per end user.
export function perUser(d) { return d.connectionMode === 'perUser'; }

// AUTH_TYPES are the auth types a datasource may have (auth.type), with
// their labels; oauth2 is the default.
export const AUTH_TYPES = [['oauth2', 'OAuth 2.0'], ['apiKey', 'API key'], ['basic', 'Basic'], ['bearer', 'Bearer token'],
  ['awsSigV4', 'AWS Signature V4'], ['none', 'None']];

const GRANTS = { client_credentials: 'Client credentials', authorization_code: 'Authorization code', jwt_bearer: 'JWT bearer', token_exchange: 'Token exchange' };

// authLabel names how a datasource authenticates: its grant for OAuth
// 2.0, else its auth type.
export function authLabel(auth) {
  const t = auth.type || 'oauth2';
  if (t === 'oauth2') return GRANTS[auth.grantType] || auth.grantType || 'OAuth 2.0';
  return (AUTH_TYPES.find(([v]) => v === t) || [t, t])[1];
}

// isStatic reports whether a datasource's auth type holds a fixed
// credential rather than OAuth 2.0 tokens.
export function isStatic(auth) { return (auth.type || 'oauth2') !== 'oauth2'; }

// connectionPath is the UI page of one end user's connection.
export function connectionPath(id, endUserId) {
  return `/datasources/${encodeURIComponent(id)}/connections/${encodeURIComponent(endUserId)}`;
}

// validEndUserId follows grantd's rule: 1–256 printable ASCII
// characters, none of / ? # % or space.
export function validEndUserId(s) {
  return /^[\x21-\x7e]{1,256}$/.test(s) && !/[/?#%]/.test(s);
}

// confirmDialog asks a yes/no question in the page's dialog; ok names
// the button that says yes.
export function confirmDialog(text, ok = 'Delete') {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = ok;
  dlg.returnValue = ''; // Escape keeps the last answer otherwise
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.showModal();
  });
}

// isProviderAnswer reports whether an authorization's lastError is the
// provider's own answer rather than something grantd found on its side.
// The rule follows how grantd's engine writes them: a provider's answer
// ends in "(HTTP nnn)" ("invalid_client: … (HTTP 401)", "invalid_grant
// (HTTP 400)") or is "token endpoint answered HTTP nnn". Everything else —
// an unreachable or timed-out endpoint, a refused private address, an
// unresolved secret reference, an answer that is not OAuth at all — is
// grantd's finding, and the UI must not put it in the provider's mouth.
export function isProviderAnswer(lastError) {
  return /\(HTTP \d{3}\)$/.test(lastError || '') || /^token endpoint answered HTTP \d{3}\b/.test(lastError || '');
}

// countdown returns an element that shows the time left until iso and
// keeps it current (see tickCountdowns).
export function countdown(iso) {
  if (!iso) return h('span', { class: 'muted', text: '—' });
  const el = h('span', { class: 'countdown', 'data-expires': iso, title: new Date(iso).toLocaleString() });
  tickOne(el);
  return el;
}

function tickOne(el) {
  const left = Math.round((Date.parse(el.dataset.expires) - Date.now()) / 1000);
  el.textContent = left <= 0 ? 'expired' : 'in ' + duration(left);
  el.classList.toggle('soon', left > 0 && left < 300);
  el.classList.toggle('expired', left <= 0);
}

export function tickCountdowns() {
  document.querySelectorAll('[data-expires]').forEach(tickOne);
}

export function duration(s) {
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

export function ago(iso) {
  if (!iso) return '—';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 5) return 'just now';
  return duration(Math.max(s, 0)) + ' ago';
}

// parseScopes splits like grantd does: commas and white space, trimmed,
// de-duplicated.
export function parseScopes(s) {
  const out = [];
  for (const t of (s || '').split(/[\s,]+/)) if (t && !out.includes(t)) out.push(t);
  return out;
}

export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = h('textarea', { class: 'offscreen' });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
  if (button) {
    const was = button.textContent;
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = was; }, 1500);
  }
}

// rows is an editable list of name/value pairs (custom parameters,
// connection config); value() returns them as an object, rows without a
// name left out.
export function rows({ id, name, initial, keyHint, valueHint, addText = '+ Add parameter' }) {
  const list = h('div', { class: 'rows', id });
  const add = (k = '', v = '') => {
    const row = h('div', { class: 'row' },
      h('input', { class: 'row-key', 'aria-label': 'Name', placeholder: keyHint, value: k }),
      h('input', { class: 'row-value', 'aria-label': 'Value', placeholder: valueHint, value: v }),
      h('button', { type: 'button', class: 'small', 'aria-label': 'Remove', text: '✕', onclick: () => row.remove() }));
    list.append(row);
  };
  for (const [k, v] of Object.entries(initial || {})) add(k, v);
  const node = h('div', {}, list, h('button', { type: 'button', class: 'small', 'data-add': name, text: addText, onclick: () => add() }));
  return {
    node,
    value() {
      const out = {};
      for (const r of list.querySelectorAll('.row')) {
        const k = r.querySelector('.row-key').value.trim();
        if (k) out[k] = r.querySelector('.row-value').value;
      }
      return out;
    },
  };
}
