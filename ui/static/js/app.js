// grantd's web UI: a small router over the History API. Pages:
// /login, / (datasources), /datasources/new, /datasources/{id},
// /datasources/{id}/edit, /datasources/{id}/connections/{endUserId},
// /api-keys. Everything it shows comes from the API with the HttpOnly
// session cookie; the admin token is never stored in the browser. The one
// page without a session is an end user's: where a connect link ends.
import { api } from './api.js';
import { h, tickCountdowns } from './util.js';
import { loginPage } from './login.js';
import { listPage } from './list.js';
import { formPage } from './form.js';
import { detailPage } from './detail.js';
import { connectionPage } from './connection.js';
import { apiKeysPage } from './apikeys.js';
import { isConnectOutcome, connectedPage } from './connected.js';

const app = document.getElementById('app');
const nav = document.getElementById('nav');
let cleanup = null;

// showBanner shows a message above the page until the next navigation.
export function showBanner(kind, title, detail) {
  const b = document.getElementById('banner');
  b.className = `banner banner-${kind}`;
  b.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = title;
  b.append(strong);
  if (detail) {
    const span = document.createElement('span');
    span.id = 'banner-detail';
    span.textContent = ' ' + detail;
    b.append(span);
  }
  b.dataset.kind = kind;
  b.hidden = false;
}

export function clearBanner() {
  document.getElementById('banner').hidden = true;
}

export function navigate(path, { keepBanner = false } = {}) {
  history.pushState({}, '', path);
  render({ keepBanner });
}

async function render({ keepBanner = false } = {}) {
  if (cleanup) { cleanup(); cleanup = null; }
  if (!keepBanner) clearBanner();
  const path = location.pathname;
  nav.hidden = path === '/login';
  let m;
  try {
    if (path === '/login') cleanup = await loginPage(app);
    else if (path === '/' || path === '') cleanup = await listPage(app);
    else if (path === '/api-keys') cleanup = await apiKeysPage(app);
    else if (path === '/datasources/new') cleanup = await formPage(app, null);
    else if ((m = path.match(/^\/datasources\/([^/]+)\/edit$/))) cleanup = await formPage(app, decodeURIComponent(m[1]));
    else if ((m = path.match(/^\/datasources\/([^/]+)\/connections\/([^/]+)$/))) cleanup = await connectionPage(app, decodeURIComponent(m[1]), decodeURIComponent(m[2]));
    else if ((m = path.match(/^\/datasources\/([^/]+)$/))) cleanup = await detailPage(app, decodeURIComponent(m[1]));
    else {
      app.replaceChildren();
      const p = document.createElement('p');
      p.textContent = 'No such page.';
      app.append(p);
    }
  } catch (err) {
    if (err.status === 401) return; // api() already went to /login
    app.replaceChildren(errorPage(err));
  }
  app.focus({ preventScroll: true });
}

// errorPage takes the place of a page that could not load, so nothing of
// what was there before ("Loading…", the previous page) stays under the
// error. A 404 is an unknown datasource id.
function errorPage(err) {
  return h('div', { class: 'card empty', id: 'page-error', role: 'alert' },
    h('h1', { text: err.status === 404 ? 'Not found' : 'Something went wrong' }),
    h('p', { class: 'error-text', text: err.message }),
    h('a', { href: '/', 'data-link': true, class: 'button', text: 'Back to datasources' }));
}

// Links marked data-link navigate without reloading.
document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});

document.getElementById('signout').addEventListener('click', async () => {
  try { await api('DELETE', '/api/v1/session'); } catch { /* signed out anyway */ }
  navigate('/login');
});

window.addEventListener('popstate', () => render());
setInterval(tickCountdowns, 1000);

// Sign-in check, then the page. An end user's browser coming back from a
// connect link has no session: it gets the end user's page, not /login.
(async () => {
  if (location.pathname !== '/login') {
    if (isConnectOutcome() && !(await signedIn())) {
      connectedPage(app);
      return;
    }
    try { await api('GET', '/api/v1/session'); } catch { return; }
  }
  render({ keepBanner: true });
})();

// signedIn asks whether this browser has a session, without being sent
// to /login when it has none.
async function signedIn() {
  try {
    const r = await fetch('/api/v1/session', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    return r.ok;
  } catch {
    return false;
  }
}
