// Drives Debian's headless Chromium through playwright-core (installed in
// interop/node; it never downloads a browser) for the console's browser
// tests (console_test.go). It reads one JSON command a line on stdin and
// answers each with one JSON line on stdout: {"ok":true,"value":...} or
// {"ok":false,"error":"..."}. Pages are named, each in its own browser
// context (its own sessionStorage). Every page records CSP violations
// (securitypolicyviolation events and Chromium's console reports) and page
// errors, which the "report" command returns.
//
//	node console.mjs TIMEOUT_MS
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const require = createRequire(new URL('../../../interop/node/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const timeout = Number(process.argv[2] || 20000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
process.stderr.write(`console driver: chromium ${browser.version()} at ${executablePath}\n`);

const pages = new Map(); // name → {context, page, csp, errors}

function get(name) {
  const p = pages.get(name);
  if (!p) throw new Error(`no page ${name}`);
  return p;
}

async function open({ page: name, url, width = 1280, height = 800 }) {
  if (pages.has(name)) throw new Error(`page ${name} is open`);
  const context = await browser.newContext({ viewport: { width, height }, acceptDownloads: true });
  const page = await context.newPage();
  const rec = { context, page, csp: [], errors: [] };
  pages.set(name, rec);
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  page.on('console', (m) => {
    const text = m.text();
    process.stderr.write(`[${name}] console.${m.type()}: ${text}\n`);
    if (/Content[- ]Security[- ]Policy/i.test(text)) rec.csp.push(text);
    else if (m.type() === 'error' && !/Failed to load resource/.test(text)) rec.errors.push(text);
  });
  page.on('pageerror', (e) => {
    process.stderr.write(`[${name}] page error: ${e.message}\n`);
    rec.errors.push(e.message);
  });
  await page.goto(url, { timeout });
  return null;
}

const ops = {
  open,
  async close({ page }) {
    const p = get(page);
    pages.delete(page);
    await p.context.close();
    return null;
  },
  async fill({ page, sel, value }) {
    await get(page).page.fill(sel, value, { timeout });
    return null;
  },
  async select({ page, sel, value }) {
    await get(page).page.selectOption(sel, value, { timeout });
    return null;
  },
  async click({ page, sel }) {
    await get(page).page.click(sel, { timeout });
    return null;
  },
  async wait({ page, sel, state = 'visible' }) {
    await get(page).page.waitForSelector(sel, { timeout, state });
    return null;
  },
  // waitfn polls the function (source of an arrow function) with arg
  // until it returns a truthy value, and returns that value.
  async waitfn({ page, fn, arg = null }) {
    const h = await get(page).page.waitForFunction(fn, arg, { timeout, polling: 'raf' });
    return await h.jsonValue();
  },
  async eval({ page, fn, arg = null }) {
    return await get(page).page.evaluate(fn, arg);
  },
  async text({ page, sel }) {
    return await get(page).page.textContent(sel, { timeout });
  },
  async reload({ page }) {
    await get(page).page.reload({ timeout });
    return null;
  },
  async viewport({ page, width, height }) {
    await get(page).page.setViewportSize({ width, height });
    return null;
  },
  async screenshot({ page, path, full = false }) {
    await get(page).page.screenshot({ path, fullPage: full, timeout });
    return null;
  },
  async report({ page }) {
    const p = get(page);
    const inPage = await p.page.evaluate(() => window.__csp || []);
    return { csp: [...p.csp, ...inPage], errors: p.errors };
  },
};

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let out;
  try {
    const cmd = JSON.parse(line);
    const op = ops[cmd.op];
    if (!op) throw new Error(`unknown op ${cmd.op}`);
    // Playwright sends a function's source to the page and calls it there.
    if (typeof cmd.fn === 'string') cmd.fn = new Function(`return (${cmd.fn});`)();
    out = { ok: true, value: (await op(cmd)) ?? null };
  } catch (e) {
    out = { ok: false, error: e.message };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
for (const p of pages.values()) await p.context.close();
await browser.close();
