// The static export's client-side search (search.js over search-index.json) in Chromium, on the
// exported folder served by nginx (tests/export_test.py passes its address in EXPORT_URL and a
// word that some titles hold in EXPORT_WORD): results listed as cards linking to pages that
// exist, the search box filled in, no script errors, no serious accessibility violation. And an
// entry's page with approved comments (EXPORT_ENTRY) as a reader of the static site sees it: the
// thread shown, no comment form to send into nothing, share links that go to the networks.
'use strict';
const { run, assert, seriousViolations, shotPath } = require('./browser');

const base = process.env.EXPORT_URL;
const word = process.env.EXPORT_WORD;
const entry = process.env.EXPORT_ENTRY;
if (!base || !word || !entry) throw new Error('EXPORT_URL, EXPORT_WORD and EXPORT_ENTRY must be set');

run('export search', async (browser) => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // (a missing resource is reported by its address below, not by the console's line)
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  // Browsers ask for /favicon.ico on their own; the site has none (nor has quire serve).
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${base}/search?q=${encodeURIComponent(word)}`);
  await page.waitForSelector('.cards .card a', { timeout: 10000 });
  const titles = await page.$$eval('.cards .card h2 a', (as) => as.map((a) => [a.textContent, a.getAttribute('href')]));
  assert(titles.length > 0, 'no results');
  assert(titles.some(([t]) => t.toLowerCase().includes(word.toLowerCase())), `no result title holds "${word}": ${JSON.stringify(titles)}`);
  const status = await page.textContent('[role=status]');
  assert(/\d+ results?/.test(status), `status line: ${status}`);
  assert(await page.inputValue('#search-q') === word, 'the search box shows the query');
  // Every result leads to an exported page.
  for (const [, href] of titles.slice(0, 5)) {
    const r = await page.request.get(base + href);
    assert(r.status() === 200, `${href}: ${r.status()}`);
  }
  await page.screenshot({ path: shotPath('export-search.png'), fullPage: true });
  const serious = await seriousViolations(page);
  assert(serious.length === 0, 'accessibility: ' + serious.join('; '));
  // A query nothing matches says so.
  await page.goto(`${base}/search?q=zzqqxxnothing`);
  await page.waitForSelector('text=Nothing matched', { timeout: 10000 });
  // An entry with comments: the thread, no form, share links to the networks themselves.
  await page.goto(base + entry);
  assert(await page.locator('.comment-list .comment').count() > 0, 'the approved comments are shown');
  assert(await page.locator('form.comment-form, #respond').count() === 0, 'no comment form');
  assert(await page.isVisible('.comments-closed'), 'the thread says comments are closed');
  const shares = await page.$$eval('.share-links a', (as) => as.map((a) => a.href));
  assert(shares.length > 0 && shares.every((h) => /^(https:|mailto:)/.test(h) && !h.startsWith(base)),
    'share links go to the networks: ' + JSON.stringify(shares));
  await page.screenshot({ path: shotPath('export-entry.png'), fullPage: true });
  const entrySerious = await seriousViolations(page);
  assert(entrySerious.length === 0, 'accessibility (entry): ' + entrySerious.join('; '));
  assert(errors.length === 0, 'script errors: ' + errors.join('; '));
});
