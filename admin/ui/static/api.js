// The console's only way to talk to wsd: the public /v1 API, with the
// token the operator pasted as the bearer. The token lives in
// sessionStorage (gone with the tab) and never goes into a URL.

const TOKEN_KEY = 'wsd.console.token';

/** An error answer of the API, or a network failure (status 0). */
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'APIError';
    this.status = status;
    this.code = code;
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || '',
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/**
 * The token's claims, decoded without verification: only to show who is
 * signed in and which actions the token allows. wsd verifies every call.
 */
export function claims(raw = token.get()) {
  const part = raw.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '='));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    const c = JSON.parse(new TextDecoder().decode(bytes));
    return c && typeof c === 'object' ? c : null;
  } catch {
    return null;
  }
}

/** The token's scopes ("admin" grants all). */
export function scopes(raw = token.get()) {
  const c = claims(raw);
  return c && typeof c.scope === 'string' ? c.scope.split(/\s+/).filter(Boolean) : [];
}

/** Whether the signed-in token grants scope s. */
export function can(s) {
  const sc = scopes();
  return sc.includes(s) || sc.includes('admin');
}

/** Called with the error of any 401 answer: the token is no good. */
let unauthorized = () => {};
export function onUnauthorized(f) {
  unauthorized = f;
}

function describe(status, body, fallback) {
  const e = body && body.error && typeof body.error === 'object' ? body.error : null;
  const code = e ? String(e.code) : 'http_' + status;
  const msg = e ? String(e.message) : fallback || 'HTTP ' + status;
  if (status === 401) return new APIError(status, code, `Token refused: ${msg.replace(/^token refused: /, '')}. Sign in again with a valid token.`);
  if (status === 403) return new APIError(status, code, `Not allowed: ${msg}.`);
  return new APIError(status, code, msg);
}

async function failure(res) {
  const text = await res.text().catch(() => '');
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  const err = describe(res.status, body, text.slice(0, 200));
  if (res.status === 401) unauthorized(err);
  return err;
}

function headers(extra) {
  return { Authorization: 'Bearer ' + token.get(), ...extra };
}

/** The URL of path with the non-empty entries of query. */
export function url(path, query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * call makes one API call and returns the decoded JSON answer; it throws
 * an APIError for an error answer or a network failure. With status set
 * it returns {status, data}.
 */
export async function call(method, path, { query, body, signal, status } = {}) {
  const init = { method, headers: headers({ Accept: 'application/json' }), signal, cache: 'no-store', credentials: 'omit', redirect: 'error' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url(path, query), init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, 'network', `wsd did not answer (${e.message}).`);
  }
  if (!res.ok) throw await failure(res);
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  return status ? { status: res.status, data } : data;
}

/**
 * events reads GET /v1/events. EventSource cannot send an Authorization
 * header, so this is fetch() and a stream reader parsing Server-Sent
 * Events. onSubscribed runs once wsd says that every later event reaches
 * this stream; onEvent(type, data) for each event, data decoded. It
 * resolves when the stream ends and throws on failure (AbortError when
 * signal aborts it).
 */
export async function events({ signal, onSubscribed, onEvent }) {
  let res;
  try {
    res = await fetch('/v1/events', { headers: headers({ Accept: 'text/event-stream' }), signal, cache: 'no-store', credentials: 'omit', redirect: 'error' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, 'network', `wsd did not answer (${e.message}).`);
  }
  if (!res.ok) throw await failure(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  let type = '';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const lines = (rest + value).split('\n');
    rest = lines.pop();
    for (let line of lines) {
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (data.length) onEvent(type || 'message', JSON.parse(data.join('\n')));
        type = '';
        data = [];
      } else if (line[0] === ':') {
        if (line.slice(1).trim() === 'subscribed') onSubscribed();
      } else {
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        let v = i < 0 ? '' : line.slice(i + 1);
        if (v[0] === ' ') v = v.slice(1);
        if (field === 'event') type = v;
        else if (field === 'data') data.push(v);
      }
    }
  }
}

/**
 * pages calls GET path with query, following the cursor (next) into the
 * cursor parameter, and returns the items of key; it stops after max
 * items and says whether it did.
 */
export async function pages(path, query, key, cursor, max, signal) {
  const items = [];
  let next = '';
  for (let i = 0; i < 10000; i++) {
    const page = await call('GET', path, { query: { ...query, [cursor]: next }, signal });
    items.push(...(page[key] || []));
    next = page.next || '';
    if (!next) return { items, truncated: false };
    if (items.length >= max) return { items, truncated: true };
  }
  return { items, truncated: true };
}
