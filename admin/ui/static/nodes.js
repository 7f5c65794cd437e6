// Nodes: the fleet's wsd instances from GET /v1/nodes (PRODUCT.md §13),
// refreshed every few seconds while shown. A partial answer (nodes that
// did not answer, or the bus is down) says so above the table; a wsd
// without --cluster is shown as the single node it is.
import { call } from './api.js';
import { h, mount, notice, num, duration, time } from './dom.js';
import { refresher } from './refresh.js';

const REFRESH_MS = 3000;

// What each health value means, for the badge's title and the legend.
const HEALTH = {
  ok: 'serving',
  draining: 'shutting down: closing its connections',
  degraded: 'its session history fails to write; WebSocket traffic is unaffected',
  disconnected: 'the node that answered has lost the bus (NATS)',
  cordoned: 'takes no new connections (cordoned or drained); serves its live ones',
};

export function nodesPage() {
  const msg = h('div#nodes-msg');
  const partial = h('div#nodes-partial');
  const mode = h('p#nodes-mode.muted');
  const summary = h('div#nodes-summary.summary');
  const body = h('tbody#node-rows');
  const updated = h('span#nodes-updated.muted');
  const el = h(
    'section.page',
    h('div.page-head', h('h1', 'Nodes'), summary, updated),
    msg,
    partial,
    mode,
    h(
      'div.table-wrap',
      h(
        'table.grid#node-table',
        h(
          'thead',
          h('tr', h('th', 'Name'), h('th', 'Health'), h('th.num', 'Connections'), h('th.opt', 'Address'), h('th', 'Version'), h('th.num', 'Up for'), h('th.opt', 'Started'), h('th', 'Last heartbeat')),
        ),
        body,
      ),
    ),
  );

  /** render draws one answer of GET /v1/nodes; cluster is /v1/stats' cluster (null on a single node). */
  function render({ list, cluster, now }) {
    const nodes = list.nodes || [];
    const missing = list.missing_nodes || [];
    if (list.partial) {
      const who = missing.length ? `${missing.length === 1 ? 'Node' : 'Nodes'} ${missing.join(', ')} did not answer` : 'Some nodes did not answer';
      const bus = cluster && !cluster.connected ? ' This node has lost the bus (NATS): it sees only itself until it reconnects.' : '';
      mount(partial, notice('warn', `Partial answer: ${who}; this list may be short.${bus}`));
    } else {
      mount(partial);
    }
    if (!cluster) {
      mode.textContent = 'Single node: this wsd runs without --cluster, so it is the whole fleet.';
    } else if (!cluster.connected) {
      mode.textContent = `Cluster: node ${cluster.node} is not connected to the bus; it cannot tell how the other nodes are until it reconnects (it does so by itself).`;
    } else {
      mode.textContent = `Cluster: connected to the bus; ${num(cluster.nodes)} ${cluster.nodes === 1 ? 'node' : 'nodes'} alive as node ${cluster.node} sees it. The node marked “this node” answered.`;
    }
    const total = nodes.reduce((s, n) => s + (Number(n.connections) || 0), 0);
    summary.dataset.nodes = String(nodes.length);
    summary.dataset.partial = String(Boolean(list.partial));
    mount(summary, h('strong#node-count', num(nodes.length)), nodes.length === 1 ? ' node, ' : ' nodes, ', h('strong#node-conns', num(total)), total === 1 ? ' connection' : ' connections');
    if (!nodes.length) {
      mount(body, h('tr', h('td.empty', { colspan: 8 }, 'No node answered.')));
      return;
    }
    mount(
      body,
      nodes.map((n) => {
        const beat = n.last_heartbeat ? new Date(n.last_heartbeat).getTime() : NaN;
        const ago = Number.isNaN(beat) ? '' : ` (${duration(Math.max(0, now - beat))} ago)`;
        return h(
          'tr',
          { dataset: { node: n.name, health: n.health, self: String(Boolean(n.self)) } },
          h('td', h('span.mono', n.name), n.self ? [' ', h('span.badge.self', { title: 'the node that answered this page' }, 'this node')] : null),
          h('td', h(`span.badge.${n.health === 'ok' ? 'live' : 'off'}`, { title: HEALTH[n.health] || n.health }, n.health)),
          h('td.num', num(n.connections)),
          h('td.opt.mono', n.address || '—'),
          h('td', n.version),
          h('td.num', duration((Number(n.uptime_seconds) || 0) * 1000)),
          h('td.opt', time(n.started_at)),
          h('td', n.self ? 'now (answering)' : `${time(n.last_heartbeat)}${ago}`),
        );
      }),
    );
  }

  const stop = refresher({
    ms: REFRESH_MS,
    scope: 'connections:read',
    msg,
    // The list, and the stats for whether this wsd is in a cluster at
    // all (stats.cluster is absent on a single node).
    fetch: (signal) => Promise.all([call('GET', '/v1/nodes', { signal }), call('GET', '/v1/stats', { signal })]),
    draw: ([list, stats]) => {
      render({ list, cluster: stats.cluster || null, now: Date.now() });
      updated.textContent = `updated ${time(new Date().toISOString())}`;
    },
  });
  return { el, render, stop };
}
