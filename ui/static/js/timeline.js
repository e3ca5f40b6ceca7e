import { api } from './api.js';
import { h } from './util.js';

// A small timeline of a datasource or a connection, from grantd's own
// memory (GET …/timeline): the tokens it obtained — each a bar from when
// it was obtained to when it expires or was replaced, a mark for each
// failed request or dropped token — over the last hour and until the
// current token expires, and under it the proxied calls per minute with
// their p99 latency. It starts empty after grantd restarts.

const NS = 'http://www.w3.org/2000/svg';
const W = 640, TOKENS_H = 34, CALLS_H = 70, PAD = 4;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'text') el.textContent = v;
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

// timelineCard returns a card that loads path's timeline (path is the
// datasource's or the connection's API path) and refresh(), to reload it.
export function timelineCard(path) {
  const body = h('div', { class: 'timeline', id: 'timeline', 'aria-busy': 'true' });
  const node = h('section', { class: 'card', id: 'timeline-card' },
    h('h2', { text: 'Last hour' }),
    h('p', { class: 'muted small', text: 'Tokens this grantd obtained and the calls it proxied; kept in memory, empty after a restart.' }),
    body);
  async function refresh() {
    try {
      render(body, await api('GET', `${path}/timeline`));
    } catch (err) {
      body.replaceChildren(h('p', { class: 'muted', text: `The timeline could not be read: ${err.message}` }));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }
  return { node, refresh };
}

function render(body, t) {
  const now = Date.now();
  const from = now - 60 * 60 * 1000;
  const expires = t.expiresAt ? Date.parse(t.expiresAt) : now;
  const to = Math.max(now, Math.min(expires, now + 60 * 60 * 1000));
  const x = (ms) => PAD + ((Math.min(Math.max(ms, from), to) - from) / (to - from)) * (W - 2 * PAD);

  // Tokens: a bar per token, until the next one or its expiry.
  const held = t.tokens.filter((e) => e.kind === 'obtained' || e.kind === 'refreshed');
  const bars = held.map((e, i) => {
    const start = Date.parse(e.at);
    const next = t.tokens.find((n, j) => j > t.tokens.indexOf(e) && n.kind !== 'failed');
    const end = Math.min(e.expiresAt ? Date.parse(e.expiresAt) : to, next ? Date.parse(next.at) : to);
    if (end < from) return null;
    return svg('rect', { class: `tl-token${i === held.length - 1 ? ' tl-current' : ''}`, x: x(start), y: 8, width: Math.max(2, x(end) - x(start)), height: 14, rx: 2 },
      svg('title', { text: `${e.kind} ${new Date(start).toLocaleTimeString()}${e.expiresAt ? `, expires ${new Date(Date.parse(e.expiresAt)).toLocaleTimeString()}` : ''}` }));
  });
  const marks = t.tokens.filter((e) => e.kind === 'failed' || e.kind === 'dropped').filter((e) => Date.parse(e.at) >= from).map((e) =>
    svg('rect', { class: `tl-${e.kind}`, x: x(Date.parse(e.at)) - 1.5, y: 4, width: 3, height: 22 },
      svg('title', { text: `${e.kind} ${new Date(Date.parse(e.at)).toLocaleTimeString()}${e.detail ? ': ' + e.detail : ''}` })));
  const nowLine = svg('line', { class: 'tl-now', x1: x(now), x2: x(now), y1: 0, y2: TOKENS_H });
  const tokens = svg('svg', { viewBox: `0 0 ${W} ${TOKENS_H}`, class: 'tl-tokens', role: 'img', 'aria-label': `${held.length} tokens, ${marks.length} failures in the last hour` },
    svg('rect', { class: 'tl-track', x: PAD, y: 13, width: W - 2 * PAD, height: 4 }), bars, marks, nowLine);

  // Calls per minute, with p99 as a line.
  const minutes = t.minutes;
  const maxCalls = Math.max(1, ...minutes.map((m) => m.calls));
  const maxP99 = Math.max(1, ...minutes.map((m) => m.p99Ms));
  const bw = (x(now) - PAD) / Math.max(1, minutes.length);
  const callBars = minutes.map((m, i) => m.calls
    ? svg('rect', { class: m.errors ? 'tl-calls tl-errors' : 'tl-calls', x: PAD + i * bw + 0.5, y: CALLS_H - (m.calls / maxCalls) * (CALLS_H - 8), width: Math.max(1, bw - 1), height: (m.calls / maxCalls) * (CALLS_H - 8), 'data-calls': m.calls },
      svg('title', { text: `${new Date(Date.parse(m.start)).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}: ${m.calls} calls, ${m.errors} failed, p50 ≤ ${m.p50Ms} ms, p99 ≤ ${m.p99Ms} ms` }))
    : null);
  const pts = minutes.map((m, i) => (m.calls ? `${PAD + i * bw + bw / 2},${CALLS_H - (m.p99Ms / maxP99) * (CALLS_H - 8)}` : null)).filter(Boolean);
  const calls = svg('svg', { viewBox: `0 0 ${W} ${CALLS_H}`, class: 'tl-callchart', role: 'img', 'aria-label': `${minutes.reduce((n, m) => n + m.calls, 0)} proxied calls in the last hour` },
    svg('line', { class: 'tl-axis', x1: PAD, x2: W - PAD, y1: CALLS_H - 0.5, y2: CALLS_H - 0.5 }),
    callBars, pts.length > 1 ? svg('polyline', { class: 'tl-p99', points: pts.join(' ') }) : null);

  const total = minutes.reduce((n, m) => n + m.calls, 0);
  const failed = minutes.reduce((n, m) => n + m.errors, 0);
  const hhmm = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  body.replaceChildren(
    h('div', { class: 'tl-row' }, h('span', { class: 'tl-label', text: 'Tokens' }), tokens),
    h('div', { class: 'tl-row' }, h('span', { class: 'tl-label', text: 'Calls / min' }), calls),
    h('div', { class: 'tl-scale muted small' }, h('span', { text: hhmm(from) }), h('span', { text: 'now' }), to > now ? h('span', { text: `expires ${hhmm(to)}` }) : h('span')),
    h('p', { class: 'muted small', id: 'timeline-summary',
      text: `${held.length} token${held.length === 1 ? '' : 's'}, ${marks.length} failure${marks.length === 1 ? '' : 's'}; ${total} call${total === 1 ? '' : 's'}${failed ? `, ${failed} failed` : ''}, p99 up to ${Math.max(0, ...minutes.map((m) => m.p99Ms))} ms. Bars are tokens (blue: current); red marks are failed requests; the line is p99 latency.` }));
}
