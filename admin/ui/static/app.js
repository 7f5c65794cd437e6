// The console's entry: sign-in, navigation (hash routes, so that nothing
// but the page's own path is ever requested) and the pages.
import { call, claims, scopes, token, onUnauthorized, APIError } from './api.js';
import { h, mount, notice } from './dom.js';
import { connectionsPage } from './connections.js';
import { connectionPage } from './connection.js';
import { historyPage } from './history.js';
import { statsPage } from './stats.js';
import { nodesPage } from './nodes.js';

const main = document.getElementById('main');
let current = null; // the mounted page: {stop()}
let signInMessage = null;

// Test and measurement hooks: counters the pages update, read by the
// browser tests. Nothing here is secret.
window.wsdConsole = { metrics: {} };

const routes = [
  { re: /^#\/connections$/, page: 'connections', make: () => connectionsPage() },
  { re: /^#\/connection\/([^/]+)$/, page: 'connections', make: (m) => connectionPage(decodeURIComponent(m[1])) },
  { re: /^#\/history$/, page: 'history', make: () => historyPage() },
  { re: /^#\/stats$/, page: 'stats', make: () => statsPage() },
  { re: /^#\/nodes$/, page: 'nodes', make: () => nodesPage() },
];

function stopCurrent() {
  if (current && current.stop) current.stop();
  current = null;
}

function route() {
  stopCurrent();
  if (!token.get()) {
    showSignIn();
    return;
  }
  const hash = location.hash || '#/connections';
  for (const r of routes) {
    const m = r.re.exec(hash);
    if (m) {
      showChrome(r.page);
      current = r.make(m);
      mount(main, current.el);
      return;
    }
  }
  location.replace('#/connections');
}

function showChrome(page) {
  document.getElementById('nav').hidden = false;
  document.getElementById('who').hidden = false;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const c = claims() || {};
  document.getElementById('subject').textContent = `${c.sub || '(no subject)'} · ${scopes().join(' ') || 'no scopes'}`;
}

function showSignIn() {
  document.getElementById('nav').hidden = true;
  document.getElementById('who').hidden = true;
  const input = h('textarea#token', { rows: 5, autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'eyJhbGciOi…' });
  const status = h('div#signin-status');
  if (signInMessage) mount(status, notice('error', signInMessage));
  const button = h('button#signin', { type: 'submit' }, 'Sign in');
  const form = h(
    'form.card.signin',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const raw = input.value.trim();
        const err = checkShape(raw);
        if (err) {
          mount(status, notice('error', err));
          return;
        }
        button.disabled = true;
        mount(status, h('p.muted', 'Checking the token…'));
        token.set(raw);
        try {
          // Any valid token may read the API's description: this checks
          // the token without needing a scope.
          await call('GET', '/v1/openapi.json');
        } catch (ex) {
          token.clear();
          button.disabled = false;
          signInMessage = null;
          mount(status, notice('error', ex instanceof APIError ? ex.message : String(ex)));
          return;
        }
        signInMessage = null;
        if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = '#/connections';
        else route();
      },
    },
    h('h1', 'Sign in to wsd'),
    h('p', 'Paste an admin token. Mint one on the wsd host with ', h('code', 'wsd token create --subject NAME --scope admin --ttl 8h'), '. The token stays in this tab (sessionStorage) and is sent only as a bearer header to this wsd.'),
    h('label', { for: 'token' }, 'Token'),
    input,
    h('div.actions', button),
    status,
  );
  mount(main, form);
  input.focus();
}

/** checkShape catches what is plainly not a token before asking wsd. */
function checkShape(raw) {
  if (!raw) return 'Paste a token first.';
  if (/\s/.test(raw) || raw.split('.').length !== 3) return 'That is not a token: a token is three base64url parts separated by dots, with no spaces.';
  const c = claims(raw);
  if (!c) return 'That is not a token: its claims do not decode.';
  if (typeof c.exp === 'number' && c.exp * 1000 < Date.now()) return `That token expired at ${new Date(c.exp * 1000).toISOString()}. Mint a new one.`;
  return '';
}

function signOut(message) {
  token.clear();
  signInMessage = message || null;
  stopCurrent();
  showSignIn();
}

onUnauthorized((err) => signOut(err.message));
document.getElementById('signout').addEventListener('click', () => signOut(null));
window.addEventListener('hashchange', route);
route();
