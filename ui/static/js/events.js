import { api } from './api.js';
import { h, badge, ago, connectionPath } from './util.js';

// eventItem is one entry of the event log: when, what, the new status,
// who did it, the end user a connection event is about (linked to the
// connection's page), why a connection failed, and the detail.
export function eventItem(e, { linkEndUser = true } = {}) {
  const user = e.endUserId
    ? h('span', { class: 'event-user' }, ' for ', linkEndUser
      ? h('a', { href: connectionPath(e.datasourceId, e.endUserId), 'data-link': true, text: e.endUserId })
      : h('code', { text: e.endUserId }))
    : null;
  return h('li', { 'data-type': e.type, 'data-end-user': e.endUserId || null },
    h('time', { datetime: e.time, title: new Date(e.time).toLocaleString(), text: ago(e.time) }), ' ',
    h('strong', { text: e.type }), user,
    e.status ? h('span', {}, ' → ', badge(e.status)) : null,
    e.reason ? h('span', { class: 'reason', text: ` (${e.reason.replace(/_/g, ' ')})` }) : null,
    h('span', { class: 'muted', text: ` by ${e.actor}` }),
    e.detail ? h('div', { class: 'muted small', text: e.detail }) : null);
}

// endUserEvents returns up to want of datasource id's events about one
// end user, newest first.
export async function endUserEvents(id, endUserId, want = 50) {
  const q = new URLSearchParams({ datasource: id, endUserId, limit: String(want) });
  const { events } = await api('GET', `/api/v1/events?${q}`);
  return events;
}
