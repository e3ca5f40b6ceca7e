// The API client: same-origin fetch with the session cookie, the CSRF
// header on every request that changes something, and problem+json
// answers turned into ApiError.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
  // fieldErrors maps field names (auth.accessTokenUrl) to messages.
  fieldErrors() {
    const out = {};
    for (const e of this.problem.errors || []) out[e.field] = e.message;
    return out;
  }
}

export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET' && method !== 'HEAD') init.headers['X-Grantd-CSRF'] = '1';
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { title: text }; }
  if (!resp.ok) {
    if (resp.status === 401 && !(method === 'POST' && path === '/api/v1/session')) {
      const next = location.pathname + location.search;
      history.pushState({}, '', '/login?next=' + encodeURIComponent(next));
      window.dispatchEvent(new PopStateEvent('popstate'));
    }
    throw new ApiError(resp.status, data || {});
  }
  return data;
}

// startAuthorization starts the browser authorization of datasource id in
// two steps: a POST (with the CSRF header) mints a one-time start URL, and
// a top-level navigation to it lets grantd set the browser-binding cookie
// and send the browser to the provider, which sends it back to the
// datasource's page with the outcome. A plain link to the start URL would
// be something any other page could make the browser follow; the one-time
// token in it is what only this page can get.
export async function startAuthorization(id) {
  const returnTo = '/datasources/' + encodeURIComponent(id);
  const { startUrl } = await api('POST', `/api/v1/datasources/${encodeURIComponent(id)}/authorize/start`, { returnTo });
  location.assign(startUrl);
}

// proxy sends a test request through the datasource's proxy and returns
// status, headers and body as the upstream answered. For a per-user
// datasource, endUser names the end user whose connection it uses.
export async function proxy(id, method, path, body, endUser) {
  const init = { method, credentials: 'same-origin', headers: { 'X-Grantd-CSRF': '1' } };
  if (endUser) init.headers['Grantd-End-User'] = endUser;
  if (body && method !== 'GET' && method !== 'HEAD') {
    init.body = body;
    init.headers['Content-Type'] = guessType(body);
  }
  const p = path.startsWith('/') ? path : '/' + path;
  const started = performance.now();
  const resp = await fetch(`/api/v1/datasources/${encodeURIComponent(id)}/proxy${p}`, init);
  const text = await resp.text();
  const headers = [...resp.headers.entries()];
  return { status: resp.status, statusText: resp.statusText, headers, body: text, ms: Math.round(performance.now() - started) };
}

function guessType(body) {
  try { JSON.parse(body); return 'application/json'; } catch { return 'text/plain'; }
}
