// Drives Debian's headless Chromium through playwright-core (installed in
// ../node; it never downloads a browser). It launches one browser, then
// reads page URLs from stdin, one a line; for each it opens the page in a
// fresh browser context, waits until the page reports "done", and prints
// the page's #result (one JSON object) as one line on stdout. At the end of
// stdin it closes the browser. Run by interop/browser_test.go:
//
//	node driver.mjs TIMEOUT_MS < urls
//
// --dump-dom with --virtual-time-budget is no use here: virtual time runs
// ahead while a WebSocket waits for the network, so the page's own timers
// fire and the DOM is captured before the socket has talked.
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const require = createRequire(new URL('../node/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const timeout = Number(process.argv[2] || 20000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout,
  // playwright gives every launch a fresh temporary --user-data-dir.
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
process.stderr.write(`driver: chromium ${browser.version()} at ${executablePath}\n`);

for await (const url of createInterface({ input: process.stdin })) {
  if (!url.trim()) continue;
  const context = await browser.newContext();
  let out;
  try {
    const page = await context.newPage();
    page.on('console', (m) => process.stderr.write(`console.${m.type()}: ${m.text()}\n`));
    page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
    await page.goto(url, { timeout });
    await page.waitForSelector('#state:text-is("done")', { timeout });
    out = await page.textContent('#result');
  } catch (e) {
    out = JSON.stringify({ library: `chromium ${browser.version()}`, ok: false, error: `driver: ${e.message}` });
  } finally {
    await context.close();
  }
  process.stdout.write(out.replace(/\n/g, ' ') + '\n');
}
await browser.close();
