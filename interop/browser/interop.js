// Browser client for wsd's interop matrix: the browser's own WebSocket.
// Parameters come as JSON in the query (?p=...); the result is written into
// #result as one JSON object (what the browser saw), and #state becomes
// "done". Echoed payloads are compared here; the Go test owns every other
// expectation.
'use strict';

const params = JSON.parse(new URLSearchParams(location.search).get('p') || '{}');
const result = {
  library: navigator.userAgent,
  ok: false,
  error: '',
  extensions: '',
  protocol: '',
  close_code: 0,
  close_reason: '',
  was_clean: false,
  status: 0,
  messages: 0,
  opened: false,
};

let finished = false;

function finish() {
  if (finished) return;
  finished = true;
  document.getElementById('result').textContent = JSON.stringify(result);
  document.getElementById('state').textContent = 'done';
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

function ascii(n) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return alphabet.repeat(Math.ceil(n / alphabet.length)).slice(0, n);
}

function bytes(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Client wraps a WebSocket with a message queue and close tracking.
class Client {
  constructor(url, protocols) {
    this.ws = new WebSocket(url, protocols || []);
    this.ws.binaryType = 'arraybuffer';
    this.queue = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      this.ws.onclose = (e) => {
        for (const w of this.waiters.splice(0)) w.reject(new Error(`closed ${e.code} ${e.reason}`));
        resolve(e);
      };
    });
    this.ws.onmessage = (e) => {
      const w = this.waiters.shift();
      if (w) w.resolve(e.data);
      else this.queue.push(e.data);
    };
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => {
        result.opened = true;
        result.status = 101;
        result.extensions = this.ws.extensions;
        result.protocol = this.ws.protocol;
        resolve();
      };
      this.ws.onerror = () => {
        result.error = (result.error ? result.error + '; ' : '') + 'error event';
        if (!result.opened) reject(new Error('the WebSocket did not open'));
      };
    });
  }

  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async echo(data) {
    this.ws.send(data);
    return this.next();
  }
}

async function echoText(c, t) {
  const got = await c.echo(t);
  check(typeof got === 'string', 'echo of a text message came back as binary');
  check(got === t, `text of ${new TextEncoder().encode(t).length} bytes came back different`);
}

async function echoBinary(c, b) {
  const got = await c.echo(b);
  check(got instanceof ArrayBuffer, 'echo of a binary message came back as text');
  check(sameBytes(new Uint8Array(got), b), `binary of ${b.length} bytes came back different`);
}

const actions = {
  async 'echo-text'(c) {
    const texts = params.sizes.map(ascii).concat([params.sample, params.sample.repeat(params.repeat)]);
    for (const t of texts) {
      await echoText(c, t);
      result.messages++;
    }
  },

  async 'echo-binary'(c) {
    for (const n of params.sizes) {
      await echoBinary(c, bytes(n));
      result.messages++;
    }
  },

  // keepalive stays idle for longer than wsd's ping interval plus its pong
  // timeout, several times over: the browser answers wsd's pings on its
  // own (scripts cannot see them), and the connection must survive and
  // still carry data.
  async keepalive(c) {
    await new Promise((resolve) => setTimeout(resolve, params.idle_ms));
    await echoText(c, 'after idle');
    result.messages++;
  },

  async subprotocol(c) {
    await echoText(c, 'hello');
    result.messages++;
  },

  async deflate(c) {
    const enc = new TextEncoder();
    for (let i = 0; i < params.count; i++) {
      const t = params.block + '.'.repeat(params.filler) + '#' + i;
      if (i % 2 === 1) await echoBinary(c, enc.encode(t));
      else await echoText(c, t);
      result.messages++;
    }
  },

  async 'close-client'(c) {
    await echoText(c, 'before close');
    c.closeStarted = performance.now();
    c.ws.close(params.code, params.reason);
  },

  // await-close proves the connection open with one echo, then waits for
  // wsd to close it (the Go test runs wsctl kill meanwhile).
  async 'await-close'(c) {
    await echoText(c, 'ready');
    result.messages++;
    await c.closed;
  },

  async 'close-server-too-big'(c) {
    c.ws.send(bytes(params.size));
    const m = await c.next().catch(() => null);
    check(m === null, 'a message came back for a message above the server\'s limit');
  },

  // origin runs on a page whose origin wsd must refuse: the browser sees
  // only an error and a 1006 close (the status is not exposed to scripts).
  // main handles it.
  async origin() {},
};

async function main() {
  const run = actions[params.action];
  check(run, `unknown action ${params.action}`);
  const c = new Client(params.url, params.protocols);
  if (params.action === 'origin') {
    await c.opened.catch(() => {});
    const e = await c.closed;
    result.close_code = e.code;
    result.was_clean = e.wasClean;
    check(!result.opened, `the WebSocket opened from ${location.origin}`);
    result.ok = true;
    return;
  }
  try {
    await c.opened;
    await run(c);
    if (c.ws.readyState === WebSocket.OPEN) {
      c.closeStarted = performance.now();
      c.ws.close(1000, 'done');
    }
  } finally {
    const e = await c.closed;
    // How long the closing handshake took, from close() to the close event.
    if (c.closeStarted !== undefined) result.close_ms = Math.round(performance.now() - c.closeStarted);
    result.close_code = e.code;
    result.close_reason = e.reason;
    result.was_clean = e.wasClean;
  }
  result.ok = true;
}

setTimeout(() => {
  result.ok = false;
  result.error = (result.error ? result.error + '; ' : '') + 'page timed out';
  finish();
}, params.timeout_ms || 20000);

main().then(finish, (err) => {
  result.ok = false;
  result.error = (result.error ? result.error + '; ' : '') + err.message;
  finish();
});
