// One connection: everything the API knows of it, refreshed while it
// lives; why it ended or how it is doing (why.js); send a message; close
// it after a confirmation. Once it has closed, its session from history
// says how it ended.
import { call, can, APIError } from './api.js';
import { h, mount, notice, num, bytes, time, labels, duration } from './dom.js';
import { whyCard } from './why.js';

const REFRESH_MS = 2000;
// The why view of a live connection is refreshed every WHY_EVERY loads
// (it reads the audit log); a closed one WHY_AFTER_CLOSE more times, as
// its record and the admin call that closed it reach history.
const WHY_EVERY = 3;
const WHY_AFTER_CLOSE = 5;

export function connectionPage(id) {
  let timer = 0;
  let stopped = false;
  let closed = false;
  let loads = 0;
  let whyTimer = 0;
  const canWhy = can('sessions:read');
  const why = canWhy ? whyCard(id) : null;
  const whyEl = why ? why.el : h('div.card#why', h('h2', 'Why'), notice('warn', 'Why a connection ended (or how it is doing) comes from history, which needs the scope sessions:read.'));

  const title = h('h1', 'Connection ', h('span.mono', id));
  const status = h('span#conn-status.badge', 'loading');
  const details = h('div#conn-details');
  const msg = h('div#conn-page-msg');

  // Send.
  const canSend = can('connections:write');
  const text = h('textarea#send-text', { rows: 3, placeholder: 'Message text', disabled: !canSend });
  const kind = h('select#send-kind', { disabled: !canSend, 'aria-label': 'Message type' }, h('option', { value: 'text' }, 'text'), h('option', { value: 'binary' }, 'binary (base64)'));
  const sendBtn = h('button#send', { type: 'submit', disabled: !canSend }, 'Send');
  const sendMsg = h('div#send-msg');
  const sendForm = h(
    'form.card',
    { onsubmit: send },
    h('h2', 'Send a message'),
    canSend ? null : notice('warn', 'Your token lacks the scope connections:write: it cannot send.'),
    text,
    h('div.actions', kind, sendBtn),
    sendMsg,
  );

  // Close.
  const canClose = can('connections:close');
  const code = h('input#kill-code', { type: 'number', min: 1000, max: 4999, value: 1000, disabled: !canClose, 'aria-label': 'Close code' });
  const reason = h('input#kill-reason', { type: 'text', maxlength: 123, placeholder: 'reason (optional)', disabled: !canClose, 'aria-label': 'Close reason' });
  const killBtn = h('button#kill.danger', { type: 'button', disabled: !canClose, onclick: confirmKill }, 'Close connection…');
  const confirmBox = h('div#kill-confirm');
  const killMsg = h('div#kill-msg');
  const killCard = h(
    'div.card',
    h('h2', 'Close'),
    canClose ? null : notice('warn', 'Your token lacks the scope connections:close: it cannot close connections.'),
    h('div.actions', h('label', { for: 'kill-code' }, 'Code'), code, reason, killBtn),
    confirmBox,
    killMsg,
  );

  const el = h('section.page', h('p', h('a', { href: '#/connections' }, '‹ Live connections')), h('div.page-head', title, status), msg, details, whyEl, h('div.two', sendForm, killCard));

  function row(k, v) {
    return [h('dt', k), h('dd', v === '' || v === null || v === undefined ? '—' : v)];
  }

  function showConnection(c) {
    status.textContent = 'live';
    status.className = 'badge live';
    const rtt = c.rtt_ms === null || c.rtt_ms === undefined ? '' : `${c.rtt_ms.toFixed(1)} ms`;
    mount(
      details,
      h(
        'dl.kv.card',
        row('Route', c.route),
        row('User', c.user),
        row('Labels', labels(c.labels)),
        row('Remote address', c.remote_addr),
        row('Origin', c.origin),
        row('User agent', c.user_agent),
        row('Subprotocol', c.subprotocol),
        row('Extensions', c.extensions),
        row('Connected', `${time(c.connected_at)} (${duration(Date.now() - new Date(c.connected_at))} ago)`),
        row('Last activity', time(c.last_activity_at)),
        row('Messages in / out', `${num(c.messages_in)} / ${num(c.messages_out)}`),
        row('Bytes in / out', `${bytes(c.bytes_in)} / ${bytes(c.bytes_out)}`),
        row('Send queue', `${bytes(c.send_queue_bytes)}, oldest ${num(c.oldest_queued_ms)} ms`),
        row('Round trip', rtt),
        row('Token expires', time(c.token_expires_at)),
        row('Webhooks in flight', num(c.webhook_in_flight)),
      ),
    );
  }

  function showSession(s) {
    closed = true;
    // Once it has ended, why it ended comes first.
    if (whyEl.nextElementSibling !== details) details.before(whyEl);
    status.textContent = s.closed_at ? 'closed' : 'not live';
    status.className = 'badge off';
    for (const b of [sendBtn, killBtn, text, kind, code, reason]) b.disabled = true;
    mount(
      details,
      h(
        'dl.kv.card#session',
        row('Closed', time(s.closed_at)),
        row('Close code', s.close_code ? String(s.close_code) : ''),
        row('Close reason', s.close_reason),
        row('Closed by', s.closed_by),
        row('Error', s.error),
        row('Route', s.route),
        row('User', s.user),
        row('Labels', labels(s.labels)),
        row('Remote address', s.remote_addr),
        row('Connected', time(s.connected_at)),
        row('Messages in / out', `${num(s.messages_in)} / ${num(s.messages_out)}`),
        row('Bytes in / out', `${bytes(s.bytes_in)} / ${bytes(s.bytes_out)}`),
        row('Node', s.node),
      ),
    );
  }

  async function load() {
    timer = 0;
    if (stopped || closed) return;
    try {
      showConnection(await call('GET', '/v1/connections/' + encodeURIComponent(id)));
      mount(msg);
      if (why && loads++ % WHY_EVERY === 0) why.load();
    } catch (e) {
      if (stopped) return;
      if (e instanceof APIError && e.status === 404) {
        await loadSession();
        return;
      }
      mount(msg, notice('error', e.message));
    }
    if (!stopped && !closed) timer = setTimeout(load, REFRESH_MS);
  }

  async function loadSession() {
    if (!can('sessions:read')) {
      closed = true;
      status.textContent = 'not live';
      status.className = 'badge off';
      mount(details, notice('warn', 'This connection is not live. Its session is in history, which needs the scope sessions:read.'));
      return;
    }
    // The why answer carries the session's history row.
    const { w, err } = await why.load();
    if (stopped) return;
    closed = true;
    if (w && w.session) {
      showSession(w.session);
      whyTimer = setTimeout(() => refreshWhy(WHY_AFTER_CLOSE), REFRESH_MS);
      return;
    }
    status.textContent = 'unknown';
    status.className = 'badge off';
    for (const b of [sendBtn, killBtn, text, kind, code, reason]) b.disabled = true;
    if (w) mount(details, notice('warn', 'History has no row for this id yet.'));
    else mount(details, notice('error', err instanceof APIError && err.status === 404 ? 'No live connection and no session has this id.' : err ? err.message : 'No answer.'));
  }

  /** refreshWhy redraws the why view of a closed session n more times. */
  async function refreshWhy(n) {
    whyTimer = 0;
    if (stopped || n <= 0) return;
    const { w } = await why.load();
    if (w && w.session) showSession(w.session);
    if (!stopped) whyTimer = setTimeout(() => refreshWhy(n - 1), REFRESH_MS);
  }

  async function send(e) {
    e.preventDefault();
    const body = kind.value === 'binary' ? { binary: text.value.trim() } : { text: text.value };
    if (kind.value === 'binary' && !/^[A-Za-z0-9+/]*={0,2}$/.test(body.binary)) {
      mount(sendMsg, notice('error', 'Binary messages are given in standard base64.'));
      return;
    }
    sendBtn.disabled = true;
    try {
      const r = await call('POST', `/v1/connections/${encodeURIComponent(id)}/messages`, { body });
      mount(sendMsg, notice('ok', `Queued ${num(r.bytes)} bytes.`));
    } catch (ex) {
      mount(sendMsg, notice('error', ex.message));
    } finally {
      sendBtn.disabled = closed;
    }
  }

  function confirmKill() {
    const c = Number(code.value);
    if (!Number.isInteger(c) || c < 1000 || c > 4999) {
      mount(killMsg, notice('error', 'The close code must be a whole number from 1000 to 4999.'));
      return;
    }
    mount(
      confirmBox,
      h(
        'div.confirm',
        { role: 'alertdialog', 'aria-label': 'Confirm close' },
        h('p', 'Close connection ', h('span.mono', id), ` with code ${c}${reason.value ? ` and reason “${reason.value}”` : ''}? The client is told by the closing handshake.`),
        h('div.actions', h('button#kill-yes.danger', { type: 'button', onclick: () => kill(c, reason.value) }, 'Yes, close it'), h('button#kill-no', { type: 'button', onclick: () => mount(confirmBox) }, 'Cancel')),
      ),
    );
  }

  async function kill(c, why) {
    mount(confirmBox);
    killBtn.disabled = true;
    mount(killMsg, h('p.muted', 'Closing…'));
    try {
      const r = await call('DELETE', '/v1/connections/' + encodeURIComponent(id), { query: { code: c, reason: why }, status: true });
      mount(killMsg, notice('ok', r.status === 200 ? `Closed with code ${r.data.code}.` : `Closing with code ${r.data.code}: the closing handshake is still under way.`));
      clearTimeout(timer);
      timer = setTimeout(load, 200);
    } catch (ex) {
      mount(killMsg, notice('error', ex.message));
      killBtn.disabled = closed;
    }
  }

  load();
  return {
    el,
    stop() {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(whyTimer);
      if (why) why.stop();
    },
  };
}
