// Session history: the API's filters, paging with its cursors, CSV export
// built in the page, and charts of closes per minute by closed_by and by
// close code.
import { call, can, pages } from './api.js';
import { h, mount, notice, num, bytes, time, labels } from './dom.js';
import { stacked } from './chart.js';

const CLOSED_BY = ['client', 'server', 'admin', 'idle_timeout', 'slow_consumer', 'protocol_error', 'token_expired', 'shutdown', 'drain', 'policy', 'crash'];
const EXPORT_MAX = 100000; // sessions in one CSV at most
const CHART_MAX = 50000; // sessions a chart reads at most
const CSV_FIELDS = ['id', 'route', 'remote_addr', 'user', 'labels', 'origin', 'user_agent', 'subprotocol', 'extensions', 'connected_at', 'closed_at', 'close_code', 'close_reason', 'closed_by', 'error', 'messages_in', 'messages_out', 'bytes_in', 'bytes_out', 'node'];

// Filters and the chart window outlive the page, within the tab.
const prefs = { since: '1h', until: '', user: '', route: '', close_code: '', closed_by: '', limit: '50', window: '60' };

export function historyPage() {
  let stopped = false;
  let cursors = ['']; // before-cursors of the pages seen; the last is the current page
  const ac = new AbortController();

  const input = (name, attrs) => h(`input#f-${name}`, { name, value: prefs[name], autocomplete: 'off', ...attrs });
  const f = {
    since: input('since', { placeholder: '1h, 7d or RFC 3339' }),
    until: input('until', { placeholder: 'RFC 3339 or 10m' }),
    user: input('user', {}),
    route: input('route', { placeholder: '/chat' }),
    close_code: input('close_code', { type: 'number', min: 1000, max: 4999 }),
    closed_by: h('select#f-closed_by', { name: 'closed_by' }, h('option', { value: '' }, 'any'), CLOSED_BY.map((c) => h('option', { value: c, selected: prefs.closed_by === c }, c))),
    limit: h('select#f-limit', { name: 'limit' }, ['20', '50', '100', '500'].map((n) => h('option', { value: n, selected: prefs.limit === n }, n))),
  };
  const msg = h('div#hist-msg');
  const body = h('tbody#hist-rows');
  const pager = h('div.pager');
  const exportMsg = h('span#export-msg.muted');
  const windowSel = h('select#chart-window', { 'aria-label': 'Chart window' }, [
    ['15', 'last 15 minutes'],
    ['60', 'last hour'],
    ['360', 'last 6 hours'],
    ['1440', 'last 24 hours'],
  ].map(([v, t]) => h('option', { value: v, selected: prefs.window === v }, t)));
  const charts = h('div#charts.charts');
  const chartMsg = h('div#chart-msg');

  const label = (name, text) => h('label', { for: 'f-' + name }, text, ' ', f[name]);
  const el = h(
    'section.page',
    h('div.page-head', h('h1', 'Session history')),
    h(
      'form.filters.grid-form',
      {
        onsubmit: (e) => {
          e.preventDefault();
          for (const k of Object.keys(f)) prefs[k] = f[k].value.trim();
          cursors = [''];
          load();
          drawCharts();
        },
      },
      label('since', 'Connected since'),
      label('until', 'until'),
      label('user', 'User'),
      label('route', 'Route'),
      label('close_code', 'Close code'),
      label('closed_by', 'Closed by'),
      label('limit', 'Per page'),
      h('div.actions', h('button#hist-apply', { type: 'submit' }, 'Search'), h('button#export', { type: 'button', onclick: exportCSV }, 'Export CSV'), exportMsg),
    ),
    msg,
    h(
      'div.table-wrap',
      h(
        'table.grid#hist-table',
        h('thead', h('tr', h('th', 'ID'), h('th', 'Route'), h('th', 'User'), h('th.opt', 'Labels'), h('th', 'Connected'), h('th', 'Closed'), h('th.num', 'Code'), h('th', 'Closed by'), h('th.opt', 'Reason'), h('th.opt.num', 'Msgs in/out'), h('th.opt.num', 'Bytes in/out'))),
        body,
      ),
    ),
    pager,
    h('div.page-head', h('h2', 'Closes per minute'), h('div.actions', windowSel, h('button#chart-draw', { type: 'button', onclick: () => ((prefs.window = windowSel.value), drawCharts()) }, 'Draw'))),
    h('p.muted', 'Sessions that connected within the window and have closed, with the user and route filters above.'),
    chartMsg,
    charts,
  );

  function query() {
    return { since: prefs.since, until: prefs.until, user: prefs.user, route: prefs.route, close_code: prefs.close_code, closed_by: prefs.closed_by };
  }

  async function load() {
    if (!can('sessions:read')) {
      mount(msg, notice('error', 'Your token lacks the scope sessions:read, which this page needs. Mint one with --scope sessions:read (or admin).'));
      return;
    }
    mount(msg, h('p.muted', 'Loading…'));
    const before = cursors[cursors.length - 1];
    try {
      const page = await call('GET', '/v1/sessions', { query: { ...query(), limit: prefs.limit, before }, signal: ac.signal });
      if (stopped) return;
      mount(msg);
      draw(page);
    } catch (e) {
      if (e.name === 'AbortError') return;
      mount(msg, notice('error', e.message));
    }
  }

  function draw(page) {
    const list = page.sessions || [];
    body.dataset.n = String(list.length);
    mount(
      body,
      list.length
        ? list.map((s) =>
            h(
              'tr',
              { 'data-id': s.id, 'data-closed-by': s.closed_by || '', 'data-code': s.close_code || '' },
              h('td', h('a.mono', { href: '#/connection/' + encodeURIComponent(s.id) }, s.id)),
              h('td', s.route),
              h('td', s.user),
              h('td.opt', labels(s.labels)),
              h('td', time(s.connected_at)),
              h('td', s.closed_at ? time(s.closed_at) : h('span.badge.live', 'open')),
              h('td.num', s.close_code || ''),
              h('td', s.closed_by || ''),
              h('td.opt', s.close_reason || s.error || ''),
              h('td.opt.num', `${num(s.messages_in)} / ${num(s.messages_out)}`),
              h('td.opt.num', `${bytes(s.bytes_in)} / ${bytes(s.bytes_out)}`),
            ),
          )
        : h('tr', h('td.empty', { colspan: 11 }, 'No session matches.')),
    );
    const n = cursors.length;
    mount(
      pager,
      h('button#hist-newer', { type: 'button', disabled: n === 1, onclick: () => (cursors.pop(), load()) }, '‹ Newer'),
      h('span.muted', `page ${n}`),
      h('button#hist-older', { type: 'button', disabled: !page.next, onclick: () => (cursors.push(page.next), load()) }, 'Older ›'),
    );
  }

  async function exportCSV() {
    if (!can('sessions:read')) return;
    mount(exportMsg, 'Exporting…');
    try {
      const { items, truncated } = await pages('/v1/sessions', { ...query(), limit: 1000 }, 'sessions', 'before', EXPORT_MAX, ac.signal);
      const csv = toCSV(items);
      const a = h('a', { href: URL.createObjectURL(new Blob([csv], { type: 'text/csv' })), download: `wsd-sessions-${new Date().toISOString().replace(/[:.]/g, '-')}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60000);
      window.wsdConsole.metrics.lastCSV = csv;
      mount(exportMsg, `${num(items.length)} ${items.length === 1 ? 'session' : 'sessions'} exported${truncated ? ` (the first ${num(EXPORT_MAX)})` : ''}.`);
    } catch (e) {
      if (e.name !== 'AbortError') mount(exportMsg, notice('error', e.message));
    }
  }

  async function drawCharts() {
    if (!can('sessions:read')) return;
    const minutes = Number(prefs.window);
    const now = Date.now();
    const start = Math.floor((now - (minutes - 1) * 60000) / 60000) * 60000;
    mount(chartMsg, h('p.muted', 'Loading…'));
    try {
      const { items, truncated } = await pages('/v1/sessions', { since: new Date(start).toISOString(), user: prefs.user, route: prefs.route, limit: 1000 }, 'sessions', 'before', CHART_MAX, ac.signal);
      if (stopped) return;
      const byWho = new Map();
      const byCode = new Map();
      for (const s of items) {
        if (!s.closed_at) continue;
        const i = Math.floor((new Date(s.closed_at).getTime() - start) / 60000);
        if (i < 0 || i >= minutes) continue;
        bump(byWho, s.closed_by || 'unknown', i, minutes);
        bump(byCode, String(s.close_code || 'none'), i, minutes);
      }
      mount(chartMsg, truncated ? notice('warn', `Only the newest ${num(items.length)} sessions are charted.`) : null);
      mount(charts, stacked('chart-closed-by', 'By closed_by', start, minutes, order(byWho)), stacked('chart-code', 'By close code', start, minutes, order(byCode)));
    } catch (e) {
      if (e.name !== 'AbortError') mount(chartMsg, notice('error', e.message));
    }
  }

  load();
  drawCharts();
  return {
    el,
    stop() {
      stopped = true;
      ac.abort();
    },
  };
}

function bump(m, key, i, n) {
  let a = m.get(key);
  if (!a) m.set(key, (a = new Array(n).fill(0)));
  a[i]++;
}

/** The series, largest total first. */
function order(m) {
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  return new Map(Array.from(m).sort((a, b) => sum(b[1]) - sum(a[1]) || (a[0] < b[0] ? -1 : 1)));
}

/** CSV per RFC 4180, a header row first; labels as k=v;k=v. */
export function toCSV(sessions) {
  const cell = (v) => {
    const s = v === null || v === undefined ? '' : String(v);
    // A leading =, +, - or @ would be a formula to a spreadsheet.
    const safe = /^[=+\-@\t\r]/.test(s) ? "'" + s : s;
    return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  const lines = [CSV_FIELDS.join(',')];
  for (const s of sessions) {
    lines.push(
      CSV_FIELDS.map((k) => {
        if (k === 'labels') return cell(Object.entries(s.labels || {}).map(([a, b]) => `${a}=${b}`).join(';'));
        return cell(s[k]);
      }).join(','),
    );
  }
  return lines.join('\r\n') + '\r\n';
}
