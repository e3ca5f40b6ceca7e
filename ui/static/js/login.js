import { api, ApiError } from './api.js';
import { h } from './util.js';
import { navigate, showBanner } from './app.js';

// loginPage trades the admin token for a session cookie. The token field is
// cleared right after; nothing is kept in storage.
export async function loginPage(app) {
  const token = h('input', { id: 'login-token', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'login-help' });
  const error = h('p', { id: 'login-error', class: 'field-error', hidden: true, role: 'alert' });
  const form = h('form', { class: 'card narrow', id: 'login-form' },
    h('h1', { text: 'Sign in to grantd' }),
    h('label', { for: 'login-token', text: 'Admin token' }),
    token,
    h('p', { id: 'login-help', class: 'muted', text: 'grantd printed it once on its first start (or set GRANTD_ADMIN_TOKEN). It is exchanged for a session cookie and not stored in the browser.' }),
    error,
    h('button', { type: 'submit', id: 'login-submit', class: 'primary', text: 'Sign in' }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      await api('POST', '/api/v1/session', { token: token.value.trim() });
      token.value = '';
      const next = new URLSearchParams(location.search).get('next');
      navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/');
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401 ? 'That is not the admin token.' : err.message;
      error.hidden = false;
      token.select();
    }
  });
  app.replaceChildren(form);
  token.focus();
  if (new URLSearchParams(location.search).get('next')) showBanner('info', 'Please sign in.');
}
