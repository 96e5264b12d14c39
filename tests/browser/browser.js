// Shared by the browser tests: Debian's Chromium driven by playwright-core, and axe-core's
// accessibility check. A test script requires this, gets a browser, and exits non-zero on failure.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function chromiumPath() {
  for (const p of [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (p && fs.existsSync(p)) return p;
  }
  throw new Error('no Chromium found: run `make deps` (Debian package chromium) or set CHROMIUM');
}

// Headless Chromium; --no-sandbox only when running as root, where Chromium refuses its sandbox.
async function launch() {
  const args = process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [];
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args });
}

// axe-core's serious and critical violations on the page, as short lines ("rule: target").
async function seriousViolations(page) {
  // Evaluated by the driver, not added as an inline <script>: the site's Content-Security-Policy
  // refuses inline scripts, as it should.
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const out = [];
  for (const v of result.violations) {
    if (v.impact !== 'serious' && v.impact !== 'critical') continue;
    for (const n of v.nodes) out.push(`${v.id}: ${n.target.join(' ')} (${v.help})`);
  }
  return out;
}

// Runs the async test body with a browser, closes it, reports failures and sets the exit code.
function run(name, body) {
  let browser;
  (async () => {
    browser = await launch();
    await body(browser);
  })().then(() => {
    console.log(`${name}: ok`);
  }, (err) => {
    console.error(`${name}: FAILED: ${err && err.stack || err}`);
    process.exitCode = 1;
  }).finally(() => browser && browser.close());
}

// A browser context signed in as login through /admin/login, as a person would (the session
// cookie is __Host-). CSP is bypassed so axe-core can be injected. Returns { ctx, page }.
async function signIn(browser, base, login, password) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  const page = await ctx.newPage();
  await page.goto(base + '/admin/login');
  await page.fill('#login', login);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  assert(!page.url().includes('/admin/login'), `${login} could not sign in: ${page.url()}`);
  return { ctx, page };
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// Where a test writes its screenshots (the build folder, looked at by people, not compared).
function shotPath(name) {
  const dir = process.env.QUIRE_SHOTS || path.join(process.cwd(), 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

module.exports = { launch, seriousViolations, run, assert, shotPath, signIn };
