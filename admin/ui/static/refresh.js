// The load loop of the pages that refresh while shown (stats, nodes).
import { can } from './api.js';
import { mount, notice } from './dom.js';

/**
 * refresher runs a page's load loop until stop(), which it returns: it
 * fetches (fetch(signal), a promise of the page's data) and draws what
 * came (draw(data)), now and then again every ms after each run ends. It
 * first checks that the token has scope, else it says which scope is
 * missing and stops. A failed fetch is shown in msg, which an answer
 * clears, and the loop goes on. stop() aborts the fetch in flight; what a
 * stopped page's fetch brings, answer or failure, is dropped.
 */
export function refresher({ ms, scope, msg, fetch, draw }) {
  let timer = 0;
  let stopped = false;
  const ac = new AbortController();
  async function run() {
    timer = 0;
    if (stopped) return;
    if (!can(scope)) {
      mount(msg, notice('error', `Your token lacks the scope ${scope}, which this page needs.`));
      return;
    }
    try {
      const data = await fetch(ac.signal);
      if (stopped) return;
      mount(msg);
      draw(data);
    } catch (e) {
      if (stopped || e.name === 'AbortError') return;
      mount(msg, notice('error', e.message));
    }
    timer = setTimeout(run, ms);
  }
  run();
  return function stop() {
    stopped = true;
    ac.abort();
    clearTimeout(timer);
  };
}
