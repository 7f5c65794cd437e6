// Live connections: the full list of connections matching the selector,
// kept current by /v1/events, sorted and shown one page at a time so that
// tens of thousands of connections stay responsive.
import { call, can, events, pages, APIError } from './api.js';
import { h, mount, notice, num, bytes, time, labels } from './dom.js';
import { parse } from './selector.js';

const PAGE = 100; // rows drawn at once
const MAX_LIST = 200000; // connections loaded at most

const columns = [
  { key: 'id', title: 'ID', value: (c) => c.id },
  { key: 'route', title: 'Route', value: (c) => c.route },
  { key: 'user', title: 'User', value: (c) => c.user },
  { key: 'remote_addr', title: 'Remote', value: (c) => c.remote_addr, opt: true },
  { key: 'labels', title: 'Labels', value: (c) => labels(c.labels) },
  { key: 'connected_at', title: 'Connected', value: (c) => c.connected_at, show: time },
  { key: 'messages_in', title: 'Msgs in', value: (c) => c.messages_in, show: num, opt: true, numeric: true },
  { key: 'messages_out', title: 'Msgs out', value: (c) => c.messages_out, show: num, opt: true, numeric: true },
  { key: 'bytes_in', title: 'Bytes in', value: (c) => c.bytes_in, show: bytes, opt: true, numeric: true },
  { key: 'bytes_out', title: 'Bytes out', value: (c) => c.bytes_out, show: bytes, opt: true, numeric: true },
];

// The page keeps its selector, sort and page across visits of the tab.
const prefs = { selector: '', sort: 'connected_at', desc: true, page: 0 };

export function connectionsPage() {
  const metrics = window.wsdConsole.metrics;
  const t0 = performance.now();
  let conns = new Map();
  let sorted = null; // conns sorted, or null when it must be redone
  let match = parse('');
  let live = null; // AbortController of the current stream
  let frame = 0; // pending requestAnimationFrame
  let retry = 0; // pending reconnection timer
  let resync = 0; // pending resync timer after missed events
  let backoff = 500;
  let stopped = false;

  const state = h('span#live-state.badge', 'connecting');
  const count = h('strong#conn-count', '0');
  const routesEl = h('span#conn-routes.muted');
  const msg = h('div#conn-msg');
  const selector = h('input#selector', { type: 'search', value: prefs.selector, placeholder: 'room=lobby,user!=bot', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Selector' });
  const head = h('tr');
  const body = h('tbody#conn-rows');
  const pager = h('div.pager');

  const el = h(
    'section.page',
    h('div.page-head', h('h1', 'Live connections'), h('div.summary', count, ' ', h('span', 'connections'), ' ', state, ' ', routesEl)),
    h(
      'form.filters',
      {
        onsubmit: (e) => {
          e.preventDefault();
          prefs.selector = selector.value.trim();
          prefs.page = 0;
          start();
        },
      },
      h('label', { for: 'selector' }, 'Selector'),
      selector,
      h('button#apply-selector', { type: 'submit' }, 'Filter'),
      h('button', { type: 'button', onclick: () => start() }, 'Reload'),
    ),
    msg,
    h('div.table-wrap', h('table.grid#conn-table', h('thead', head), body)),
    pager,
  );

  function drawHead() {
    mount(
      head,
      columns.map((col) =>
        h(
          `th${col.opt ? '.opt' : ''}${col.numeric ? '.num' : ''}`,
          { 'aria-sort': prefs.sort === col.key ? (prefs.desc ? 'descending' : 'ascending') : null },
          h(
            'button.sort',
            {
              type: 'button',
              'data-key': col.key,
              onclick: () => {
                if (prefs.sort === col.key) prefs.desc = !prefs.desc;
                else {
                  prefs.sort = col.key;
                  prefs.desc = !!col.numeric || col.key === 'connected_at';
                }
                sorted = null;
                drawHead();
                draw();
              },
            },
            col.title,
            prefs.sort === col.key ? (prefs.desc ? ' ▼' : ' ▲') : '',
          ),
        ),
      ),
    );
  }

  function sortedList() {
    if (sorted) return sorted;
    const col = columns.find((c) => c.key === prefs.sort) || columns[0];
    const dir = prefs.desc ? -1 : 1;
    const keyed = Array.from(conns.values(), (c) => [col.value(c) ?? '', c]);
    keyed.sort((a, b) => {
      const x = a[0];
      const y = b[0];
      if (x < y) return -dir;
      if (x > y) return dir;
      return a[1].id < b[1].id ? -1 : a[1].id > b[1].id ? 1 : 0;
    });
    sorted = keyed.map((k) => k[1]);
    return sorted;
  }

  function draw() {
    frame = 0;
    const t = performance.now();
    const list = sortedList();
    const last = Math.max(0, Math.ceil(list.length / PAGE) - 1);
    prefs.page = Math.min(prefs.page, last);
    const rows = list.slice(prefs.page * PAGE, prefs.page * PAGE + PAGE);
    count.textContent = num(list.length);
    count.dataset.n = String(list.length);
    const byRoute = new Map();
    for (const c of conns.values()) byRoute.set(c.route, (byRoute.get(c.route) || 0) + 1);
    routesEl.textContent = byRoute.size > 1 ? Array.from(byRoute, ([r, n]) => `${r}: ${num(n)}`).join(' · ') : '';
    mount(
      body,
      rows.length
        ? rows.map((c) =>
            h(
              'tr',
              { 'data-id': c.id },
              columns.map((col) => {
                const v = col.value(c);
                const text = col.show ? col.show(v) : v;
                const cls = `td${col.opt ? '.opt' : ''}${col.numeric ? '.num' : ''}`;
                if (col.key === 'id') return h(cls, h('a.mono', { href: '#/connection/' + encodeURIComponent(c.id) }, c.id));
                return h(cls, text);
              }),
            ),
          )
        : h('tr', h('td.empty', { colspan: columns.length }, prefs.selector ? 'No live connection matches the selector.' : 'No live connections.')),
    );
    const first = list.length ? prefs.page * PAGE + 1 : 0;
    mount(
      pager,
      h('button#prev-page', { type: 'button', disabled: prefs.page === 0, onclick: () => go(prefs.page - 1) }, '‹ Previous'),
      h('span.muted', `${num(first)}–${num(prefs.page * PAGE + rows.length)} of ${num(list.length)}`),
      h('button#next-page', { type: 'button', disabled: prefs.page >= last, onclick: () => go(prefs.page + 1) }, 'Next ›'),
    );
    metrics.connectionsRendered = list.length;
    metrics.lastDrawAt = performance.now();
    metrics.lastRenderMs = metrics.lastDrawAt - t;
    metrics.maxRenderMs = Math.max(metrics.maxRenderMs || 0, metrics.lastRenderMs);
    metrics.renders = (metrics.renders || 0) + 1;
  }

  function go(p) {
    prefs.page = p;
    draw();
  }

  function changed() {
    sorted = null;
    if (!frame && !stopped) frame = requestAnimationFrame(draw);
  }

  function apply(ev) {
    metrics.events = (metrics.events || 0) + 1;
    if (metrics.eventMark === undefined) metrics.eventMark = performance.now(); // reset by the tests
    if (ev.missed) {
      // This stream lost events: the list may be wrong. Load it again,
      // at most once a second.
      metrics.missed = (metrics.missed || 0) + ev.missed;
      if (!resync) resync = setTimeout(() => ((resync = 0), start()), 1000);
    }
    const c = ev.connection;
    if (!c) return;
    if (ev.type === 'connect') {
      if (match(c)) conns.set(c.id, c);
    } else if (ev.type === 'close') {
      conns.delete(c.id);
    } else return;
    changed();
  }

  async function start() {
    if (stopped) return;
    if (live) live.abort();
    clearTimeout(retry);
    clearTimeout(resync);
    retry = resync = 0;
    try {
      match = parse(prefs.selector);
    } catch (e) {
      mount(msg, notice('error', e.message));
      return;
    }
    if (!can('connections:read')) {
      mount(msg, notice('error', 'Your token lacks the scope connections:read, which this page needs. Mint one with --scope connections:read (or admin).'));
      state.textContent = 'no access';
      return;
    }
    const ac = new AbortController();
    live = ac;
    state.textContent = 'connecting';
    state.className = 'badge';
    // Subscribe first, then list: an event that comes while the list
    // loads is applied after it, so nothing is missed.
    let pending = [];
    let subscribed;
    const ready = new Promise((resolve) => (subscribed = resolve));
    const stream = events({
      signal: ac.signal,
      onSubscribed: subscribed,
      onEvent: (type, ev) => {
        if (pending) pending.push(ev);
        else apply(ev);
      },
    });
    stream.then(
      () => ended(ac, null),
      (e) => ended(ac, e),
    );
    try {
      await Promise.race([ready, stream.then(() => Promise.reject(new Error('the event stream ended')))]);
      const sel = prefs.selector;
      const { items, truncated } = await pages('/v1/connections', { selector: sel, limit: 1000 }, 'connections', 'after', MAX_LIST, ac.signal);
      if (ac !== live) return;
      conns = new Map(items.map((c) => [c.id, c]));
      for (const ev of pending) apply(ev);
      pending = null;
      mount(msg, truncated ? notice('warn', `Showing the first ${num(items.length)} connections only.`) : null);
      state.textContent = 'live';
      state.className = 'badge live';
      backoff = 500;
      sorted = null;
      draw();
      if (metrics.firstRenderMs === undefined) metrics.firstRenderMs = performance.now() - t0;
      metrics.loadedAt = performance.now();
    } catch (e) {
      if (e.name === 'AbortError' || ac !== live) return;
      ac.abort();
      failed(e);
    }
  }

  function ended(ac, err) {
    if (ac !== live || stopped || (err && err.name === 'AbortError')) return;
    failed(err || new Error('the event stream ended'));
  }

  function failed(err) {
    state.textContent = 'offline';
    state.className = 'badge off';
    if (err instanceof APIError && (err.status === 401 || err.status === 403 || err.status === 400)) {
      mount(msg, notice('error', err.message));
      return; // retrying would not help
    }
    mount(msg, notice('warn', `Live updates stopped: ${err.message} Retrying…`));
    retry = setTimeout(start, backoff);
    backoff = Math.min(backoff * 2, 15000);
  }

  drawHead();
  draw();
  start();
  return {
    el,
    stop() {
      stopped = true;
      if (live) live.abort();
      clearTimeout(retry);
      clearTimeout(resync);
      cancelAnimationFrame(frame);
    },
  };
}
