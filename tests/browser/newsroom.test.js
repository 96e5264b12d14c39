// The web admin end to end (run by newsroom_test.sh against a real `quire serve`): write an
// opinion piece with a hero image and a pull quote as a contributor, autosave survives a reload,
// submit; an editor schedules it and it appears on the public page at that time; two editors on
// one story (lock shown, stale save refused with the diff, nothing lost); a staged edit of a
// published story stays invisible until published; a held comment approved shows on the cached
// public page; a second editor takes over the lock and the first is told within a heartbeat;
// the preview's banner; a contributor cannot open another's draft (404); the XSS corpus through
// the admin's forms runs no script on the public pages or in the admin. axe-core on every admin
// page, the preview and the error page.
'use strict';
const fs = require('fs');
const { run, assert, seriousViolations, shotPath, signIn } = require('./browser');

const BASE = process.env.QUIRE_URL;
const SETUP = JSON.parse(process.env.QUIRE_SETUP);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A signed-in browser context. CSP is bypassed so axe-core can be injected, and so the XSS check
// tests escaping itself, not only the admin's Content-Security-Policy.
async function as(browser, login) {
  const { ctx, page } = await signIn(browser, BASE, login, 'newsroom-pass-' + login);
  page.scripts = [];
  page.guarded = 0;
  page.on('dialog', async (d) => {
    if (d.type() === 'beforeunload') { page.guarded++; await d.accept(); return; } // the unsaved-changes guard
    page.scripts.push('dialog: ' + d.message());
    await d.dismiss();
  });
  page.on('pageerror', (e) => page.errors = (page.errors || []).concat(String(e)));
  return { ctx, page };
}

// The public page at url once test(html) holds, for a check right after a staff write. On
// PostgreSQL (newsroom_test.sh serves it with two workers there) the reader's page may come from
// the other worker's cache, which hears of the write by NOTIFY a few milliseconds later (README):
// so it is asked again for up to 10 s (the bound is for a sanitizer build at load). On SQLite the
// first answer is already fresh.
async function fresh(page, url, test, what) {
  const until = Date.now() + 10000;
  for (;;) {
    await page.goto(url);
    const html = await page.content();
    if (test(html)) return html;
    assert(Date.now() < until, what);
    await page.waitForTimeout(10);
  }
}

const checked = new Set();
async function axe(page, name) {
  const v = await seriousViolations(page);
  assert(v.length === 0, `axe-core on ${name}: ${v.join('; ')}`);
  checked.add(name);
}

// The site's time zone (newsroom_test.sh sets one with daylight saving time): the schedule is
// typed as its wall clock, so a wrong conversion publishes an hour or more off and the wait fails.
const TZ = process.env.QUIRE_TZ || 'UTC';
// "YYYY-MM-DDTHH:MM" in the site's zone some seconds from now, rounded up to a minute.
function localIn(seconds) {
  const d = new Date(Date.now() + seconds * 1000);
  if (d.getUTCSeconds() > 0 || d.getUTCMilliseconds() > 0) d.setUTCMinutes(d.getUTCMinutes() + 1, 0, 0);
  const fmt = new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const p = Object.fromEntries(fmt.formatToParts(d).map((x) => [x.type, x.value]));
  return { value: `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`, at: d };
}

run('newsroom', async (browser) => {
  const cora = await as(browser, 'cora');
  let page = cora.page;

  // --- the dashboard
  const dash = await page.goto(BASE + '/admin');
  assert(dash.status() === 200, 'dashboard answers 200, got ' + dash.status());
  assert((dash.headers()['cache-control'] || '').includes('no-store'), 'admin pages are no-store');
  await axe(page, 'dashboard');

  // --- a contributor writes an opinion piece with a hero image and a pull quote
  await page.goto(BASE + '/admin/entries/new?type=opinion');
  await axe(page, 'new entry');
  // Saving without a headline: the error is next to the field and the input is kept.
  await page.fill('#f-body', 'Body kept after an error.');
  await page.click('#save');
  assert(await page.isVisible('#f-title-error'), 'the missing headline is shown next to its field');
  assert((await page.inputValue('#f-body')) === 'Body kept after an error.', 'input kept after an error');
  await page.fill('#f-title', 'The quay deserves a say');
  await page.fill('#f-standfirst', 'Those who work the tides should speak first.');
  await page.fill('#f-body', 'First paragraph about the crews.\n\nSecond paragraph about the tides.\n\nThird paragraph about the vote.');
  await page.fill('#f-pull_quote', 'Nobody reads the water like a skipper');
  await page.selectOption('#f-hero_media', String(SETUP.media));
  await page.fill('#f-hero_alt', 'Boats at the quay at dawn');
  await page.fill('#f-tags', 'Harbour, Tides');
  await page.fill('#f-section', 'Opinion');
  await Promise.all([page.waitForURL(/\/admin\/entries\/\d+\?ok=/), page.click('#save')]);
  const id = Number(page.url().match(/entries\/(\d+)/)[1]);
  assert(await page.isVisible('.hero-preview img'), 'the chosen hero image is shown in the editor');
  await axe(page, 'editor');

  // --- autosave survives a reload (the saved story is not touched by it)
  await page.fill('#f-body', 'First paragraph about the crews, autosaved.\n\nSecond paragraph about the tides.\n\nThird paragraph about the vote.');
  await page.waitForFunction(() => /Autosaved/.test(document.getElementById('autosave-status').textContent), null, { timeout: 15000 });
  await page.reload();
  assert(page.guarded === 1, 'the unsaved-changes guard asked before leaving');
  const stored = await page.inputValue('#f-body');
  assert(!stored.includes('autosaved'), 'an autosave does not overwrite the saved story');
  assert(await page.isVisible('text=Restore the autosave'), 'the autosave is offered after a reload');
  await page.click('text=Restore the autosave');
  assert((await page.inputValue('#f-body')).includes('autosaved'), 'the autosave restored into the form');
  await Promise.all([page.waitForURL(/\?ok=/), page.click('#save')]);
  assert((await page.inputValue('#f-body')).includes('autosaved'), 'the restored autosave saved');
  await page.screenshot({ path: shotPath('admin-editor.png'), fullPage: true });

  // --- submit for review; a contributor has no publish button
  assert(!(await page.isVisible('button[data-transition=publish]')), 'a contributor is not shown Publish');
  await Promise.all([page.waitForURL(/\?ok=/), page.click('button[data-transition=submit]')]);
  const submitted = await page.textContent('.flash');
  assert(submitted.includes('now review'), 'submitted for review: ' + submitted);

  // --- IDOR: another contributor asking for it by id gets 404
  const cid = await as(browser, 'cid');
  const other = await cid.page.goto(`${BASE}/admin/entries/${id}`);
  assert(other.status() === 404, 'another contributor gets 404 for the draft, got ' + other.status());
  const otherRev = await cid.page.goto(`${BASE}/admin/entries/${id}/revisions`);
  assert(otherRev.status() === 404, 'and for its revisions, got ' + otherRev.status());
  const otherSave = await cid.page.request.post(`${BASE}/admin/entries/${id}`, { form: { title: 'x' }, maxRedirects: 0 });
  assert(otherSave.status() === 403 || otherSave.status() === 404, 'a save of it without its token is refused');
  await cid.ctx.close();

  // --- an editor approves and schedules it; it appears on the public page at that time
  const ed = await as(browser, 'ed');
  page = ed.page;
  await page.goto(BASE + '/admin');
  const waiting = await page.textContent('#p-review + *');
  assert(waiting.includes('The quay deserves a say'), 'waiting for review on the dashboard: ' + waiting);
  await page.screenshot({ path: shotPath('admin-dashboard.png'), fullPage: true });
  await page.goto(`${BASE}/admin/entries/${id}`);
  const when = localIn(25);
  const pickerLabel = await page.textContent('label[for=when-schedule]');
  assert(pickerLabel.includes(`(${TZ})`), 'the date-time picker names the site\'s time zone: ' + pickerLabel);
  await page.fill('#when-schedule', when.value);
  await Promise.all([page.waitForURL(/\?(ok|error)=/), page.click('button[data-transition=schedule]')]);
  const flash = await page.textContent('.flash');
  assert(flash.includes('scheduled'), 'scheduled: ' + flash);
  assert(flash.includes(when.value.slice(11)), `the confirmation names the local time ${when.value}: ${flash}`);
  const publicUrl = BASE + '/opinion/the-quay-deserves-a-say';
  const anon = await browser.newContext();
  const reader = await anon.newPage();
  assert((await reader.goto(publicUrl)).status() === 404, 'not public before its time');
  let live = false;
  for (let i = 0; i < 120 && !live; i++) {
    await sleep(1000);
    live = (await reader.goto(publicUrl)).status() === 200;
  }
  assert(live, 'published at the scheduled time');
  assert(Date.now() >= when.at.getTime(), 'not before the scheduled time');
  const html = await reader.content();
  assert(html.includes('Nobody reads the water like a skipper'), 'the pull quote is on the public page');
  assert(/<img[^>]+alt="Boats at the quay at dawn"/.test(html) || html.includes('Boats at the quay at dawn'), 'the hero image is on the public page');

  // --- staged edit of the published story: invisible until published
  await page.goto(`${BASE}/admin/entries/${id}`);
  await page.fill('#f-title', 'The quay deserves the first say');
  await Promise.all([page.waitForURL(/\?ok=/), page.click('#save')]);
  assert(await page.isVisible('#pending-h'), 'pending changes are listed');
  await reader.goto(publicUrl);
  let pub = await reader.content();
  assert(pub.includes('The quay deserves a say') && !pub.includes('first say'), 'readers still see the live version');
  await Promise.all([page.waitForURL(/\?ok=/), page.click('text=Publish changes')]);
  await fresh(reader, publicUrl, (h) => h.includes('The quay deserves the first say'), 'the published changes are live');
  // The preview: the site's own page under a banner styled to stand out (the admin's preview.css).
  await page.goto(`${BASE}/admin/entries/${id}/preview`);
  const banner = await page.$eval('.preview-banner', (b) => {
    const s = getComputedStyle(b);
    return { text: b.textContent, bg: s.backgroundColor, position: s.position, top: b.getBoundingClientRect().top };
  });
  assert(banner.text === 'Preview, not published' && banner.bg === 'rgb(138, 17, 22)' && banner.position === 'sticky' && banner.top === 0,
    'the preview banner is styled and on top: ' + JSON.stringify(banner));
  await axe(page, 'preview');
  await page.screenshot({ path: shotPath('admin-preview.png') });
  // The admin's error page.
  const missing = await page.goto(`${BASE}/admin/entries/987654321`);
  assert(missing.status() === 404 && (await page.textContent('h1')) === 'Not found', 'an unknown entry is the admin 404 page');
  await axe(page, 'error page');

  // --- two editors on one story: lock shown, stale save refused with the diff, nothing lost
  const eve = await as(browser, 'eve');
  await page.goto(BASE + '/admin/entries?status=published&type=article');
  await axe(page, 'entries list');
  await page.goto(BASE + '/admin/entries/new?type=article');
  await page.fill('#f-title', 'Ferry timetable changes for winter');
  await page.fill('#f-body', 'The winter timetable starts in January.');
  await Promise.all([page.waitForURL(/\/admin\/entries\/\d+\?ok=/), page.click('#save')]);
  const draftId = Number(page.url().match(/entries\/(\d+)/)[1]);
  await page.goto(`${BASE}/admin/entries/${draftId}`);
  await eve.page.goto(`${BASE}/admin/entries/${draftId}`);
  const lockText = await eve.page.textContent('#lock-banner');
  assert(lockText.includes('ed Staff is editing'), 'the second editor sees who holds the lock: ' + lockText);
  await axe(eve.page, 'editor with lock');
  // Eve takes over: Ed's open editor says so at its next heartbeat (its clock run on by one beat).
  const edWatch = await ed.ctx.newPage();
  await edWatch.clock.install();
  await edWatch.goto(`${BASE}/admin/entries/${draftId}`);
  assert(!(await edWatch.isVisible('#lock-banner')) && !(await edWatch.isVisible('#lock-lost')), 'the holder sees no lock notice');
  await Promise.all([eve.page.waitForURL(/\?ok=/), eve.page.click('text=Take over editing')]);
  assert(!(await eve.page.isVisible('#lock-banner')), 'after taking over, Eve holds the lock');
  // One heartbeat period after the takeover (the page's clock also runs with real time, so on a
  // loaded machine a beat may already have come: the notice is then there sooner).
  await edWatch.clock.runFor(20000);
  await edWatch.waitForSelector('#lock-lost', { state: 'visible', timeout: 15000 }); // (a heartbeat's round trip: slow at load)
  const lost = await edWatch.textContent('#lock-lost-text');
  assert(lost.includes('eve Staff took over editing'), 'the first editor is told who took over: ' + lost);
  await axe(edWatch, 'editor, lock taken over');
  await edWatch.screenshot({ path: shotPath('admin-lock-lost.png') });
  // Ed takes it back from the notice without leaving his page (his unsaved text stays).
  await edWatch.fill('#f-standfirst', 'Unsaved words of Ed.');
  await edWatch.click('#lock-take-back');
  await edWatch.waitForSelector('#lock-lost', { state: 'hidden', timeout: 15000 });
  assert((await edWatch.inputValue('#f-standfirst')) === 'Unsaved words of Ed.', 'taking the lock back keeps the unsaved text');
  await eve.page.goto(`${BASE}/admin/entries/${draftId}`);
  assert((await eve.page.textContent('#lock-banner')).includes('ed Staff is editing'), 'Ed holds the lock again');
  await edWatch.close();
  await page.fill('#f-standfirst', 'Ed’s standfirst, saved first.');
  await Promise.all([page.waitForURL(/\?ok=/), page.click('#save')]);
  await eve.page.fill('#f-standfirst', 'Eve’s standfirst, saved second.');
  await eve.page.click('#save');
  await eve.page.waitForSelector('.conflict');
  const conflict = await eve.page.textContent('.conflict');
  assert(conflict.includes('Ed’s standfirst') && conflict.includes('Eve’s standfirst'), 'the diff shows both versions');
  assert((await eve.page.inputValue('#f-standfirst')) === 'Eve’s standfirst, saved second.', 'the refused input is kept');
  await axe(eve.page, 'conflict view');
  await eve.page.screenshot({ path: shotPath('admin-conflict.png'), fullPage: true });
  await Promise.all([eve.page.waitForURL(/\?ok=/), eve.page.click('#save')]);
  await eve.page.goto(`${BASE}/admin/entries/${draftId}/revisions`);
  await axe(eve.page, 'revisions');
  const revs = await eve.page.$$eval('table.entries tbody tr td:first-child a', (as) => as.map((a) => a.getAttribute('href')));
  await eve.page.goto(BASE + revs[1]);
  assert((await eve.page.textContent('.word-diff')).includes('Ed’s standfirst'), 'the first editor’s save is kept in the revisions');
  await axe(eve.page, 'revision diff');
  // A correction on the published story (its last published change): a dated line on the page.
  await eve.page.goto(`${BASE}/admin/entries/${id}/revisions`);
  await eve.page.click('table.entries tbody tr td:first-child a');
  await eve.page.fill('#corr-note', 'An earlier version misnamed the harbour master.');
  await Promise.all([eve.page.waitForURL(/\?ok=/), eve.page.click('text=Mark as correction')]);
  const corrected = await fresh(reader, publicUrl, (h) => /class="correction"><strong>Correction<\/strong>[^<]*<time datetime="[^"]+">[^<]+<\/time>\): An earlier version misnamed the harbour master\./.test(h),
    'the dated correction line is on the story');
  assert(corrected.includes('"CorrectionComment"'), 'the correction is in the JSON-LD');
  await eve.ctx.close();

  // --- a held comment approved shows on the cached public page
  await reader.goto(BASE + SETUP.article_url);
  await reader.goto(BASE + SETUP.article_url); // now from the page cache
  assert(!(await reader.content()).includes('A held comment about the harbour dredging'), 'a held comment is not public');
  await page.goto(BASE + '/admin/comments');
  await axe(page, 'comments');
  await page.check('table.entries tbody tr:has-text("A held comment about the harbour dredging") input[type=checkbox]');
  await page.selectOption('#c-action', 'approved');
  await Promise.all([page.waitForURL(/\?/), page.click('text=Apply')]);
  await fresh(reader, BASE + SETUP.article_url, (h) => h.includes('A held comment about the harbour dredging'), 'the approved comment is on the public page');

  // --- stored XSS: the corpus through the admin's form, then the public pages and the admin list
  const payloads = fs.readFileSync(process.env.QUIRE_XSS, 'utf8').split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('##'))
    .map((l) => l.replace(/\\(x[0-9a-fA-F]{2}|[nrt0\\])/g, (_, e) => ({ n: '\n', r: '\r', t: '\t', 0: '\0', '\\': '\\' })[e] ?? String.fromCharCode(parseInt(e.slice(1), 16))));
  const csrf = await page.getAttribute('input[name=csrf]', 'value');
  const made = [];
  let refused = 0;
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i];
    const form = { csrf, title: `XSS ${i} ${p}`.slice(0, 300), body: p, 'fields.standfirst': p, 'fields.pull_quote': p,
      'fields.hero_alt': p, 'fields.hero_caption': p, 'fields.hero_credit': p, tags: `x${i}, ${p}`.slice(0, 200), section: 'XSS' };
    let r = await page.request.post(BASE + '/admin/entries/new?type=opinion', { form, maxRedirects: 0 });
    if (r.status() === 422) {
      r = await page.request.post(BASE + '/admin/entries/new?type=opinion', { form: { csrf, title: `XSS ${i}`, body: p, 'fields.pull_quote': p.slice(0, 400) }, maxRedirects: 0 });
    }
    assert(r.status() === 303 || r.status() === 422, `payload ${i}: answered ${r.status()}`);
    if (r.status() === 422) { refused++; continue; }
    const eid = Number(r.headers().location.match(/entries\/(\d+)/)[1]);
    const t = await page.request.post(`${BASE}/admin/entries/${eid}/transition`, { form: { csrf, transition: 'publish' }, maxRedirects: 0 });
    assert(t.status() === 303, 'publish answered ' + t.status());
    made.push(eid);
  }
  assert(made.length > payloads.length / 2, `most payloads stored (${made.length} of ${payloads.length}, ${refused} refused as invalid input)`);
  const xss = await as(browser, 'ed');
  const evil = [];
  xss.page.on('request', (r) => { if (/evil\.example|javascript:/.test(r.url())) evil.push(r.url()); });
  await xss.page.addInitScript(() => { window.alert = window.confirm = window.prompt = (m) => { window.__xss = (window.__xss || 0) + 1; }; });
  for (const eid of made) {
    const r = await xss.page.request.get(`${BASE}/admin/entries/${eid}`);
    assert(r.status() === 200, 'editor of a payload entry ' + r.status());
  }
  const pages = [];
  for (const eid of made) pages.push(`${BASE}/admin/entries/${eid}`);
  for (let i = 0; i < made.length; i += 1) {
    const row = await xss.page.request.get(`${BASE}/admin/entries/${made[i]}/preview`);
    assert(row.status() === 200, 'preview answered ' + row.status());
  }
  const urls = ['/admin/entries?section=XSS', '/admin/entries?q=XSS', '/admin'];
  for (let after = 0; after < 20; after++) urls.push(`/admin/entries?type=opinion&status=published&after=${made[made.length - 1 - after * 25] || made[0]}`);
  for (const eid of made) urls.push(`/admin/entries/${eid}`);
  for (const u of urls) {
    await xss.page.goto(BASE + u);
    assert(!(await xss.page.evaluate(() => window.__xss)), 'a script ran on ' + u);
  }
  // The public pages of every stored payload.
  for (const eid of made) {
    const link = await xss.page.request.get(`${BASE}/admin/entries/${eid}`);
    const m = (await link.text()).match(/href="(\/opinion\/[^"]+)">view on the site/);
    assert(m, 'entry ' + eid + ' has a public link');
    await xss.page.goto(BASE + m[1]);
    assert(!(await xss.page.evaluate(() => window.__xss)), 'a script ran on the public page of entry ' + eid);
  }
  assert(xss.page.scripts.length === 0 && evil.length === 0, `no script ran (${xss.page.scripts.join(', ')} ${evil.join(', ')})`);
  console.log(`newsroom: xss corpus: ${made.length} stored and shown, ${refused} refused as invalid; axe-core clean on ${[...checked].join(', ')}`);
  await xss.ctx.close();
  await anon.close();
  await ed.ctx.close();
  await cora.ctx.close();
});
