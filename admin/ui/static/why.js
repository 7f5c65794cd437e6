// The why view of a connection's page: GET /v1/sessions/{id}/why in a
// card. For a closed session: who closed it and why in plain words (code,
// reason, closed_by and its meaning, the limit or timeout with its
// value), its black-box frames, the admin calls on it with their subject,
// its trace id (a link when wsd has --trace-url). For a live one: its
// queue, round trip and last activity. Server data goes in as text only.
import { call, APIError } from './api.js';
import { h, mount, notice, num, bytes, time, duration } from './dom.js';

// Close codes (RFC 6455 §7.4.1 and the IANA registry), in words.
const CODES = {
  1000: 'normal closure',
  1001: 'going away',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status code received',
  1006: 'abnormal closure: the connection dropped without a closing handshake',
  1007: 'invalid payload data',
  1008: 'policy violation',
  1009: 'message too big',
  1010: 'mandatory extension missing',
  1011: 'internal error',
  1012: 'service restart',
  1013: 'try again later',
  1014: 'bad gateway',
  1015: 'TLS handshake failure',
};

/** codeText says what a close code means, for the why view. */
export function codeText(code) {
  if (!code) return '';
  if (CODES[code]) return `${code} (${CODES[code]})`;
  if (code >= 4000 && code <= 4999) return `${code} (application code)`;
  if (code >= 3000 && code <= 3999) return `${code} (registered by a library or framework)`;
  return String(code);
}

/** A link to the trace only when its scheme is http or https, whatever the template holds. */
function traceLink(u, text) {
  let parsed = null;
  try {
    parsed = new URL(u, location.href);
  } catch {
    parsed = null;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) return h('span.mono', text);
  return h('a#why-trace-link.mono', { href: parsed.href, target: '_blank', rel: 'noopener noreferrer' }, text);
}

/** "15:04:05.123" in local time. */
function clock(iso) {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return String(iso || '');
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}.${p(t.getMilliseconds(), 3)}`;
}

function params(obj) {
  return Object.entries(obj || {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}

function row(k, v, id) {
  return [h('dt', k), h('dd', id ? { id } : null, v === '' || v === null || v === undefined ? '—' : v)];
}

/**
 * whyCard is the card of connection id. show(w) draws an answer of the
 * API; load() fetches one and draws it.
 */
export function whyCard(id) {
  const body = h('div#why-body', h('p.muted', 'Loading…'));
  const refresh = h('button#why-refresh', { type: 'button', onclick: () => load() }, 'Refresh');
  const el = h('div.card#why', h('div.page-head', h('h2', 'Why'), refresh), body);
  let last = '';
  let ac = null;

  function show(w) {
    const key = JSON.stringify(w);
    if (key === last) return; // nothing new: keep the reader's place
    last = key;
    el.dataset.live = String(Boolean(w.live));
    const parts = [h('p#why-summary.why-summary', w.summary || '')];

    if (w.live && w.connection) {
      const c = w.connection;
      const rtt = c.rtt_ms === null || c.rtt_ms === undefined ? 'not measured yet' : `${Number(c.rtt_ms).toFixed(1)} ms`;
      const act = c.last_activity_at ? `${time(c.last_activity_at)} (${duration(Date.now() - new Date(c.last_activity_at))} ago)` : 'no message received yet';
      parts.push(
        h(
          'dl.kv#why-live',
          row('State', 'live on this node'),
          row('Send queue', `${bytes(c.send_queue_bytes)}, oldest ${num(c.oldest_queued_ms)} ms`, 'why-queue'),
          row('Round trip', rtt, 'why-rtt'),
          row('Last activity', act, 'why-activity'),
        ),
      );
    } else if (w.closed_by) {
      const limits = (w.limits || []).map((l) => h('li', h('code', `--${l.name}`), ' ', l.value));
      parts.push(
        h(
          'dl.kv#why-cause',
          row('Closed', time(w.closed_at)),
          row('Close code', codeText(w.close_code), 'why-code'),
          row('Reason', w.close_reason, 'why-reason'),
          row('Closed by', w.closed_by_meaning ? `${w.closed_by}: ${w.closed_by_meaning}` : w.closed_by, 'why-closed-by'),
          w.error ? row('Error', w.error, 'why-error') : null,
          limits.length ? row('Limit involved', h('ul#why-limits.plain', limits)) : null,
        ),
      );
    } else {
      parts.push(h('p.muted#why-open', 'History has this session open and it is not live on this node: it is on another node, or its end is not recorded yet.'));
    }

    // The trace.
    if (w.trace_id) {
      parts.push(h('dl.kv#why-trace', row('Trace', w.trace_url ? traceLink(w.trace_url, w.trace_id) : h('span.mono', w.trace_id))));
    }

    // The black box.
    const frames = w.black_box || [];
    if (frames.length) {
      parts.push(
        h('h3', `Black box: the last ${frames.length} ${frames.length === 1 ? 'frame' : 'frames'}`),
        h('p.muted', 'Frame headers only (never payloads), oldest first; “in” came from the client.'),
        h(
          'div.table-wrap',
          h(
            'table.grid.compact#why-blackbox',
            h('thead', h('tr', h('th', 'Time'), h('th', 'Direction'), h('th', 'Opcode'), h('th', 'FIN'), h('th', 'RSV'), h('th.num', 'Length'))),
            h(
              'tbody',
              frames.map((f) =>
                h(
                  'tr',
                  { dataset: { dir: f.direction, opcode: f.opcode } },
                  h('td.mono', clock(f.at)),
                  h('td', f.direction),
                  h('td', f.opcode),
                  h('td', f.fin ? 'yes' : 'no'),
                  h('td.num', String(f.rsv || 0)),
                  h('td.num', num(f.length)),
                ),
              ),
            ),
          ),
        ),
      );
    } else if (!w.live && w.closed_by) {
      parts.push(h('p.muted#why-no-blackbox', 'No black box: wsd keeps one only for sessions that end abnormally.'));
    }

    // Admin calls on this connection.
    const actions = w.admin_actions || [];
    parts.push(h('h3', 'Admin actions on this connection'));
    if (actions.length) {
      parts.push(
        h(
          'div.table-wrap',
          h(
            'table.grid.compact#why-actions',
            h('thead', h('tr', h('th', 'At'), h('th', 'Subject'), h('th', 'Action'), h('th.opt', 'Parameters'), h('th', 'Result'), h('th.opt', 'Node'))),
            h(
              'tbody',
              actions.map((a) =>
                h(
                  'tr',
                  { dataset: { action: a.action, subject: a.subject || '' } },
                  h('td', time(a.at)),
                  h('td.subject', a.subject || '(unknown)'),
                  h('td', a.action),
                  h('td.opt', params(a.parameters)),
                  h('td', a.result),
                  h('td.opt', a.node || ''),
                ),
              ),
            ),
          ),
        ),
      );
    } else {
      parts.push(h('p.muted#why-no-actions', 'None: no admin call targeted it.'));
    }
    mount(body, parts);
  }

  /** load fetches and draws the answer: {w} on success, {err} (an APIError, also shown in the card) on failure. */
  async function load() {
    if (ac) ac.abort();
    ac = new AbortController();
    const signal = ac.signal;
    try {
      const w = await call('GET', `/v1/sessions/${encodeURIComponent(id)}/why`, { signal });
      if (signal.aborted) return { aborted: true };
      show(w);
      return { w };
    } catch (e) {
      if (e.name === 'AbortError') return { aborted: true };
      last = '';
      const gone = e instanceof APIError && e.status === 404;
      mount(body, notice(gone ? 'warn' : 'error', gone ? 'Nothing to explain: no session or live connection has this id.' : e.message));
      return { err: e };
    }
  }

  return {
    el,
    show,
    load,
    stop() {
      if (ac) ac.abort();
    },
  };
}
