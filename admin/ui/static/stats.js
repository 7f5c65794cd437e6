// Stats: GET /v1/stats, refreshed every few seconds while shown.
import { call } from './api.js';
import { h, mount, num, bytes, duration, time } from './dom.js';
import { refresher } from './refresh.js';

const REFRESH_MS = 5000;

export function statsPage() {
  const msg = h('div#stats-msg');
  const body = h('div#stats');
  const el = h('section.page', h('div.page-head', h('h1', 'Stats')), msg, body);

  const tile = (id, label, value, note) => h('div.tile', { id: 'stat-' + id }, h('div.tile-label', label), h('div.tile-value', value), note ? h('div.muted', note) : null);
  const table = (id, title, obj, fmt = num) => {
    const rows = Object.entries(obj || {}).sort((a, b) => b[1] - a[1]);
    return h(
      'div.card',
      h('h2', title),
      rows.length ? h('table.grid.compact', { id }, h('tbody', rows.map(([k, v]) => h('tr', h('td', k), h('td.num', fmt(v)))))) : h('p.muted', 'none'),
    );
  };

  function draw(s) {
    const hist = s.history || {};
    mount(
      body,
      h(
        'div.tiles',
        tile('connections', 'Live connections', num(s.connections), `${num(s.handshaking)} handshaking`),
        tile('rates', 'Connects / closes per second', `${s.rates.connects_per_second.toFixed(2)} / ${s.rates.closes_per_second.toFixed(2)}`, `over ${Math.round(s.rates.window_seconds)} s`),
        tile('accepted', 'Accepted since start', num(s.accepted), `${num(s.closed)} closed`),
        tile('queue', 'Send queues', bytes(s.send_queue_bytes), `${num(s.slow_consumers)} slow consumers closed`),
        tile('uptime', 'Up for', duration(s.uptime_seconds * 1000), `since ${time(s.started_at)} · ${s.version}`),
        tile('state', 'State', s.draining ? 'draining' : 'serving', `${num(s.event_subscribers)} event streams`),
        tile('history', 'History', hist.degraded ? 'degraded' : hist.status || 'ok', hist.degraded ? hist.last_error : `${num(hist.written)} written, ${num(hist.dropped)} dropped, WAL ${bytes(hist.wal_bytes)}`),
        tile('problems', 'Panics / webhook failures', `${num(s.panics)} / ${num(s.webhook_failures)}`, `${num(s.webhook_events_dropped)} webhook events dropped`),
      ),
      h('div.two', table('stats-closed-by', 'Closed by', s.closed_by), table('stats-routes', 'Connections by route', s.connections_by_route)),
      table('stats-handshake', 'Handshake failures', s.handshake_failures),
    );
  }

  const stop = refresher({ ms: REFRESH_MS, scope: 'connections:read', msg, fetch: (signal) => call('GET', '/v1/stats', { signal }), draw });
  return { el, stop };
}
