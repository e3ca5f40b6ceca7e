import { api } from './api.js';
import { h, badge, countdown, ago, perUser, authLabel, STATUS_LABEL } from './util.js';

// listPage shows every datasource with its status, live expiry countdown,
// last refresh and last error, and reloads every 10 s. A per-user
// datasource has no token of its own: it shows how many of its end users'
// connections are in each status instead.
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
    // Each cell carries its column's name: on a phone the rows become
    // cards and the cells label themselves (style.css).
    const [name, grant, status, expires, refreshed, lastError] = ['Name', 'Auth', 'Status', 'Token expires', 'Last refresh', 'Last error'];
    table.replaceChildren(
      h('thead', {}, h('tr', {}, [name, grant, status, expires, refreshed, lastError].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, datasources.map((d) => h('tr', { 'data-id': d.id, 'data-name': d.name },
        h('td', { 'data-label': name }, h('a', { href: `/datasources/${encodeURIComponent(d.id)}`, 'data-link': true, text: d.name }), h('div', { class: 'muted small', text: d.url })),
        h('td', { 'data-label': grant, text: authLabel(d.auth) + (perUser(d) ? ', per end user' : '') }),
        ...(perUser(d) ? [
          h('td', { 'data-label': 'Connections', colspan: 2 }, counts(d.connections)),
          h('td', { 'data-label': refreshed, text: '' }),
          h('td', { 'data-label': lastError, text: '' }),
        ] : [
          h('td', { 'data-label': status }, badge(d.authorization.status)),
          h('td', { 'data-label': expires }, countdown(d.authorization.expiresAt)),
          h('td', { 'data-label': refreshed, text: ago(d.authorization.lastRefreshedAt) }),
          h('td', { 'data-label': lastError, class: 'error-text', text: d.authorization.lastError || '' }),
        ])))));
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), 10000);
  return () => clearInterval(timer);
}

// counts shows a per-user datasource's connections by status, worst
// first, or that it has none yet.
function counts(byStatus = {}) {
  const order = ['error', 'needs_reauthorization', 'unauthorized', 'authorized'];
  const shown = order.filter((st) => byStatus[st] > 0);
  if (!shown.length) return h('span', { class: 'muted', 'data-connections': '0', text: 'no connections yet' });
  return h('span', { class: 'counts', 'data-connections': String(shown.reduce((n, st) => n + byStatus[st], 0)) },
    shown.map((st) => h('span', { class: `badge badge-${st}`, 'data-conn-status': st, 'data-count': String(byStatus[st]), text: `${byStatus[st]} ${STATUS_LABEL[st]}` })));
}
