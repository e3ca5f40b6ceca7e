import { api, ApiError } from './api.js';
import { h, countdown, copyText, validEndUserId } from './util.js';

// agentCard makes an agent session for datasource d: an MCP credential
// bound to one end user and this datasource, for a chosen time. The MCP
// URL and the token are shown with Copy buttons until the next one; the
// token is shown this once (grantd keeps only its hash).
export function agentCard(d) {
  const idInput = h('input', { id: 'agent-end-user', required: true, autocomplete: 'off', spellcheck: 'false', maxlength: 256, placeholder: 'user-42', 'aria-describedby': 'agent-end-user-help' });
  const ttl = h('select', { id: 'agent-ttl' },
    [[3600, '1 hour'], [8 * 3600, '8 hours'], [86400, '24 hours']].map(([v, t]) => h('option', { value: v, text: t })));
  const error = h('div', { class: 'banner banner-error', id: 'agent-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'agent-create', text: 'Create agent session' });
  const urlOut = h('input', { id: 'agent-mcp-url', readonly: true, onfocus: (e) => e.target.select() });
  const tokenOut = h('input', { id: 'agent-token', readonly: true, onfocus: (e) => e.target.select() });
  const copyURL = h('button', { type: 'button', id: 'copy-agent-mcp-url', text: 'Copy', onclick: (e) => copyText(urlOut.value, e.target) });
  const copyToken = h('button', { type: 'button', id: 'copy-agent-token', text: 'Copy', onclick: (e) => copyText(tokenOut.value, e.target) });
  const expires = h('span', { id: 'agent-expires' });
  const result = h('div', { class: 'connect-result', id: 'agent-result', hidden: true, 'aria-live': 'polite' },
    h('label', { for: 'agent-mcp-url', text: 'MCP URL' }), h('div', { class: 'copy-row' }, urlOut, copyURL),
    h('label', { for: 'agent-token', text: 'Token (shown once)' }), h('div', { class: 'copy-row' }, tokenOut, copyToken),
    h('p', { class: 'help' }, 'Give both to the MCP client: the token as "Authorization: Bearer <token>". It calls only this datasource, only for this end user, and expires ', expires, '.'));

  const form = h('form', { id: 'agent-form', novalidate: true },
    h('div', { class: 'grid2' },
      h('div', { class: 'field' }, h('label', { for: 'agent-end-user', text: 'End user id' }), idInput,
        h('p', { class: 'help', id: 'agent-end-user-help', text: 'Whose account the agent acts with.' })),
      h('div', { class: 'field' }, h('label', { for: 'agent-ttl', text: 'Valid for' }), ttl)),
    error,
    h('div', { class: 'actions' }, submit),
    result);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const id = idInput.value.trim();
    if (!validEndUserId(id)) {
      fault(id ? 'An end user id is 1–256 printable ASCII characters without spaces or / ? # %.' : 'Give the end user\'s id.');
      return;
    }
    submit.disabled = true;
    try {
      const r = await api('POST', '/api/v1/agent-sessions', { endUserId: id, datasources: [d.id], ttlSeconds: Number(ttl.value) });
      urlOut.value = r.mcpUrl;
      tokenOut.value = r.token;
      expires.replaceChildren(countdown(r.expiresAt));
      result.hidden = false;
      result.dataset.session = r.id;
      copyURL.textContent = 'Copy';
      copyToken.textContent = 'Copy';
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const fields = err.problem.errors || [];
      fault([err.problem.title || err.message, ...fields.map((f) => `${f.field}: ${f.message}`)].join(' '));
    } finally {
      submit.disabled = false;
    }
  });

  function fault(message) {
    error.textContent = message;
    error.hidden = false;
    result.hidden = true;
  }

  return h('section', { class: 'card', id: 'agent' }, h('h2', { text: 'Agent access (MCP)' }), form);
}
