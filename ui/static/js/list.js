import { api } from './api.js';
import { h, badge, countdown, ago } from './util.js';

// listPage shows every datasource with its status, live expiry countdown,
// last refresh and last error, and reloads every 10 s.
export async function listPage(app) {
  const table = h('table', { class: 'list', id: 'datasource-table' });
  const empty = h('div', { class: 'card empty', id: 'empty', hidden: true },
    h('p', { text: 'No datasources yet.' }),
    h('a', { href: '/datasources/new', 'data-link': true, class: 'button primary', text: 'Connect a datasource' }));
  app.replaceChildren(
    h('div', { class: 'page-head' },
      h('h1', { text: 'Datasources' }),
      h('a', { href: '/datasources/new', 'data-link': true, class: 'button primary', id: 'new-datasource', text: 'New datasource' })),
    table, empty);

  async function load() {
    const { datasources } = await api('GET', '/api/v1/datasources');
    empty.hidden = datasources.length > 0;
    table.hidden = datasources.length === 0;
    table.replaceChildren(
      h('thead', {}, h('tr', {}, ['Name', 'Grant', 'Status', 'Token expires', 'Last refresh', 'Last error'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, datasources.map((d) => h('tr', { 'data-id': d.id, 'data-name': d.name },
        h('td', {}, h('a', { href: `/datasources/${encodeURIComponent(d.id)}`, 'data-link': true, text: d.name }), h('div', { class: 'muted small', text: d.url })),
        h('td', { text: d.auth.grantType === 'client_credentials' ? 'client credentials' : 'authorization code' }),
        h('td', {}, badge(d.authorization.status)),
        h('td', {}, countdown(d.authorization.expiresAt)),
        h('td', { text: ago(d.authorization.lastRefreshedAt) }),
        h('td', { class: 'error-text', text: d.authorization.lastError || '' })))));
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), 10000);
  return () => clearInterval(timer);
}
