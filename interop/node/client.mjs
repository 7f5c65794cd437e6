// Node `ws` client for wsd's interop matrix. The Go test (interop/node_test.go)
// runs it once per scenario:
//
//	node client.mjs ACTION PARAMS_JSON
//
// and reads one JSON object from stdout: what this client saw (ok, error,
// negotiated extensions and subprotocol, close code and reason, handshake
// status, number of checked messages). Echoed payloads are compared here;
// everything else is asserted by the Go test, which owns the expectations.
import { createRequire } from 'node:module';
import WebSocket from 'ws';

const wsVersion = createRequire(import.meta.url)('ws/package.json').version;

const [action, rawParams] = process.argv.slice(2);
const params = JSON.parse(rawParams || '{}');
const result = {
  library: `ws ${wsVersion} (node ${process.version})`,
  ok: false,
  error: '',
  extensions: '',
  protocol: '',
  close_code: 0,
  close_reason: '',
  was_clean: false,
  status: 0,
  messages: 0,
};

function finish() {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
}

// The whole run is bounded; the Go test also kills the process group.
setTimeout(() => {
  result.ok = false;
  result.error = (result.error ? result.error + '; ' : '') + 'client timed out';
  finish();
}, params.timeout_ms || 20000);

// Client wraps a ws connection with a message queue and close tracking.
class Client {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        const c = { code, reason: reason.toString('utf8') };
        for (const w of this.waiters.splice(0)) w.reject(new Error(`closed ${code} ${c.reason}`));
        resolve(c);
      });
    });
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      const w = this.waiters.shift();
      if (w) w.resolve(m);
      else this.queue.push(m);
    });
    ws.on('error', (err) => {
      result.error = (result.error ? result.error + '; ' : '') + err.message;
    });
  }

  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async echo(data, binary) {
    this.ws.send(data, { binary });
    const m = await this.next();
    check(m.isBinary === binary, `echo of a ${binary ? 'binary' : 'text'} message came back as ${m.isBinary ? 'binary' : 'text'}`);
    return m.data;
  }
}

function open(url, protocols, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols || [], { handshakeTimeout: 10000, ...options });
    const c = new Client(ws);
    // ws.extensions lists only the names; the parameters that the server
    // answered are in the 101 response.
    ws.once('upgrade', (res) => {
      result.extensions = res.headers['sec-websocket-extensions'] || '';
    });
    ws.once('open', () => {
      result.protocol = ws.protocol;
      result.status = 101;
      resolve(c);
    });
    ws.once('unexpected-response', (req, res) => {
      result.status = res.statusCode;
      req.destroy();
      reject(new Error(`handshake answered ${res.statusCode}`));
    });
    ws.once('error', reject);
  });
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

function ascii(n) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  while (s.length < n) s += alphabet;
  return s.slice(0, n);
}

function bytes(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

// deflateMessage is message i of the compression scenarios: a block of
// random text (incompressible beyond base64's redundancy) repeated in every
// message, then a run of a single character, then the index.
function deflateMessage(i) {
  return params.block + '.'.repeat(params.filler) + '#' + i;
}

const actions = {
  async 'echo-text'(c) {
    const texts = params.sizes.map(ascii).concat([params.sample, params.sample.repeat(params.repeat)]);
    for (const t of texts) {
      const got = await c.echo(t, false);
      check(got.toString('utf8') === t, `text of ${Buffer.byteLength(t)} bytes came back different (${got.length} bytes)`);
      result.messages++;
    }
  },

  async 'echo-binary'(c) {
    for (const n of params.sizes) {
      const b = bytes(n);
      const got = await c.echo(b, true);
      check(b.equals(got), `binary of ${n} bytes came back different (${got.length} bytes)`);
      result.messages++;
    }
  },

  // fragmented streams each message as several frames (fin=false until the
  // last). The text is cut inside multi-byte UTF-8 sequences on purpose.
  async fragmented(c) {
    const text = params.sample.repeat(params.repeat);
    const tb = Buffer.from(text, 'utf8');
    const cuts = params.cuts.map((x) => Math.min(x, tb.length));
    let from = 0;
    cuts.concat([tb.length]).forEach((to, i, all) => {
      c.ws.send(tb.subarray(from, to), { binary: false, fin: i === all.length - 1 });
      from = to;
    });
    let m = await c.next();
    check(!m.isBinary && m.data.toString('utf8') === text, 'fragmented text came back different');
    result.messages++;

    const bin = bytes(params.binary_size);
    const parts = params.parts;
    const step = Math.ceil(bin.length / parts);
    for (let i = 0; i < parts; i++) {
      c.ws.send(bin.subarray(i * step, Math.min((i + 1) * step, bin.length)), { binary: true, fin: i === parts - 1 });
    }
    m = await c.next();
    check(m.isBinary && bin.equals(m.data), 'fragmented binary came back different');
    result.messages++;
  },

  async 'ping-pong'(c) {
    for (let i = 0; i < params.count; i++) {
      const payload = Buffer.from(`ping ${i} ✓`, 'utf8');
      const pong = new Promise((resolve) => c.ws.once('pong', resolve));
      c.ws.ping(payload);
      const got = await pong;
      check(payload.equals(got), `pong ${i} carried ${JSON.stringify(got.toString())}, not the ping's payload`);
      result.messages++;
    }
    // The connection still carries data after the control frames.
    const got = await c.echo('after pings', false);
    check(got.toString() === 'after pings', 'echo after pings came back different');
  },

  // keepalive waits, idle, until wsd has pinged several times (ws answers
  // each ping with a pong by itself), then checks that the connection
  // still carries data: wsd processed the pongs and kept it open.
  async keepalive(c) {
    result.pings = 0;
    await new Promise((resolve) => {
      c.ws.on('ping', () => {
        result.pings++;
        if (result.pings === params.pings) resolve();
      });
    });
    const got = await c.echo('after idle', false);
    check(got.toString() === 'after idle', 'echo after idle came back different');
    result.messages++;
  },

  async subprotocol(c) {
    const got = await c.echo('hello', false);
    check(got.toString() === 'hello', 'echo came back different');
    result.messages++;
  },

  async deflate(c) {
    for (let i = 0; i < params.count; i++) {
      const t = deflateMessage(i);
      const binary = i % 2 === 1;
      const got = await c.echo(binary ? Buffer.from(t) : t, binary);
      check(got.toString('utf8') === t, `message ${i} came back different`);
      result.messages++;
    }
  },

  async 'close-client'(c) {
    const got = await c.echo('before close', false);
    check(got.toString() === 'before close', 'echo came back different');
    c.closeStarted = performance.now();
    c.ws.close(params.code, params.reason);
  },

  // await-close proves the connection open with one echo, then waits for
  // wsd to close it (the Go test runs wsctl kill meanwhile).
  async 'await-close'(c) {
    const got = await c.echo('ready', false);
    check(got.toString() === 'ready', 'echo came back different');
    result.messages++;
    await c.closed;
  },

  async 'close-server-too-big'(c) {
    c.ws.send(bytes(params.size), { binary: true });
    const m = await c.next().catch(() => null);
    check(m === null, `a message came back for a message above the server's limit`);
  },

  async origin() {
    try {
      await open(params.url, [], { origin: params.bad_origin });
      throw new Error(`handshake with Origin ${params.bad_origin} succeeded`);
    } catch (e) {
      if (result.status === 0) throw e;
    }
    result.bad_status = result.status;
    result.status = 0;
    const c = await open(params.url, [], { origin: params.good_origin });
    result.good_status = result.status;
    c.ws.close(1000, '');
    await c.closed;
  },
};

async function main() {
  const run = actions[action];
  check(run, `unknown action ${action}`);
  if (action === 'origin') {
    await run();
    result.ok = true;
    return;
  }
  const options = { ...params.node_options };
  if (params.window_bits) {
    // Ask for small LZ77 windows both ways (server_max_window_bits too).
    options.perMessageDeflate = {
      ...options.perMessageDeflate,
      serverMaxWindowBits: params.window_bits,
      clientMaxWindowBits: params.window_bits,
    };
  }
  const c = await open(params.url, params.protocols, options);
  await run(c);
  if (c.ws.readyState === WebSocket.OPEN) {
    c.closeStarted = performance.now();
    c.ws.close(1000, 'done');
  }
  const closed = await c.closed;
  // How long the closing handshake took, from close() to the close event.
  if (c.closeStarted !== undefined) result.close_ms = Math.round(performance.now() - c.closeStarted);
  result.close_code = closed.code;
  result.close_reason = closed.reason;
  result.was_clean = closed.code !== 1006;
  result.ok = true;
}

main().then(finish, (err) => {
  result.ok = false;
  result.error = (result.error ? result.error + '; ' : '') + err.message;
  finish();
});
