// The demo's front page and a story in Chromium: screenshots at 1280 and 390 px, layout checks
// (no sideways scrolling, the lead above the fold at 1280x800, no empty column, the sidebar
// below the stories on a phone, images with their sizes), axe-core's serious violations, and
// the console (a Content-Security-Policy the theme breaks shows there as an error).
// Env: QUIRE_URL (the served demo), QUIRE_STORY (a story's path), QUIRE_SHOTS (where shots go).
'use strict';
const { run, assert, seriousViolations, shotPath } = require('./browser');

const base = process.env.QUIRE_URL;
const story = process.env.QUIRE_STORY;

run('front', async (browser) => {
  assert(base && story, 'QUIRE_URL and QUIRE_STORY must be set');
  const problems = [];
  // axe-core goes in as an inline script, which the site's CSP refuses: it runs in a context that
  // bypasses CSP, after the same page was loaded under the CSP with the console watched.
  const axeContext = await browser.newContext({ bypassCSP: true });
  const axe = async (path, w, h) => {
    const p = await axeContext.newPage({ viewport: { width: w, height: h } });
    await p.setViewportSize({ width: w, height: h });
    await p.goto(base + path, { waitUntil: 'load' });
    const v = await seriousViolations(p);
    await p.close();
    return v;
  };
  const watch = (page, label) => {
    page.on('console', (m) => {
      // The refused comment's 422 is the answer the test asks for; anything else is a problem.
      if ((m.type() === 'error' || m.type() === 'warning') && !/status of 422/.test(m.text())) problems.push(`${label}: console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${label}: ${e.message}`));
    // A picture's request that Chromium itself cancels (ERR_ABORTED: a srcset chosen again as a
    // shot resizes the page, a lazy one put off) is no failure of the server's: every picture is
    // checked to have loaded below. (Seen once more on a loaded CI machine, after the two fixes
    // that wait for the pictures.)
    page.on('requestfailed', (r) => {
      const error = (r.failure() || {}).errorText;
      if (error === 'net::ERR_ABORTED' && r.resourceType() === 'image') return;
      problems.push(`${label}: request failed ${r.url()}: ${error}`);
    });
  };
  for (const [w, h] of [[1280, 800], [390, 844]]) {
    const page = await browser.newPage({ viewport: { width: w, height: h } });
    watch(page, `front at ${w}px`);
    const resp = await page.goto(base + '/', { waitUntil: 'load' });
    assert(resp.status() === 200, `front page status ${resp.status()}`);
    const csp = resp.headers()['content-security-policy'] || '';
    assert(csp.includes("default-src 'self'"), `front page CSP: ${csp}`);
    const m = await page.evaluate(() => {
      const rect = (sel) => { const e = document.querySelector(sel); return e && e.getBoundingClientRect().toJSON(); };
      const imgs = [...document.querySelectorAll('main img, aside img')].map((i) => ({
        src: i.currentSrc || i.src, loaded: i.complete && i.naturalWidth > 0,
        sized: i.hasAttribute('width') && i.hasAttribute('height') }));
      return {
        scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth,
        lead: rect('.front-lead'), leadTitle: rect('.front-lead-title'), leadImg: rect('.front-lead img'),
        main: rect('main'), aside: rect('aside.sidebar'),
        asideText: (document.querySelector('aside.sidebar') || {}).innerText || '',
        mostRead: document.querySelectorAll('.most-read-list li').length,
        sponsor: document.querySelectorAll('aside.sidebar .sponsor').length,
        top: document.querySelectorAll('.front-secondary .front-card').length,
        topImages: document.querySelectorAll('.front-secondary .front-card img').length,
        sections: document.querySelectorAll('.front-section').length,
        opinion: [...document.querySelectorAll('.opinion-list .opinion-author')].map((e) => e.textContent.trim()),
        imgs,
      };
    });
    assert(m.scrollWidth <= m.clientWidth, `${w}px: the page scrolls sideways (${m.scrollWidth} > ${m.clientWidth})`);
    assert(m.lead && m.leadImg, `${w}px: no lead story with a picture`);
    assert(m.top >= 3 && m.topImages >= 2, `${w}px: top stories ${m.top}, with pictures ${m.topImages}`);
    assert(m.sections >= 3, `${w}px: ${m.sections} section blocks`);
    assert(m.opinion.length >= 2 && m.opinion.every((n) => n.length > 0), `${w}px: opinion column authors ${m.opinion}`);
    assert(m.mostRead >= 3 && m.sponsor >= 1, `${w}px: sidebar most read ${m.mostRead}, sponsor ${m.sponsor}`);
    for (const i of m.imgs) assert(i.loaded && i.sized, `${w}px: image ${i.src} loaded ${i.loaded}, width and height ${i.sized}`);
    if (w === 1280) {
      assert(m.leadTitle.bottom <= h && m.leadImg.top < h && m.leadImg.bottom <= h + 40,
        `1280px: the lead is not above the fold: title bottom ${m.leadTitle.bottom}, picture ${m.leadImg.top}-${m.leadImg.bottom}`);
      // Two columns side by side, the sidebar filled (most read, sponsor) and not a sliver.
      assert(m.aside.left >= m.main.right - 1 && m.aside.top < m.main.top + 5, '1280px: the sidebar is not beside the stories');
      assert(m.aside.width >= 200 && m.asideText.length > 200, `1280px: the sidebar looks empty (${m.asideText.length} characters)`);
    } else {
      assert(m.aside.top >= m.main.bottom - 1, `390px: the sidebar does not flow below the stories (${m.aside.top} < ${m.main.bottom})`);
    }
    // The lazy card pictures below the fold are brought in by scrolling, as a reader would, and
    // must all load before the shots: a shot resizes the page, and Chromium cancels (ERR_ABORTED)
    // a lazy picture still in flight when it does, which a slow machine shows as a failed request.
    await page.evaluate(async () => {
      for (let y = 0; y < document.documentElement.scrollHeight; y += innerHeight) {
        window.scrollTo(0, y);
        await new Promise((done) => setTimeout(done, 50));
      }
    });
    await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 60000 });
    await page.evaluate(() => window.scrollTo(0, 0));
    const unloaded = await page.evaluate(() => [...document.images].filter((i) => !(i.naturalWidth > 0)).map((i) => i.currentSrc || i.src));
    assert(unloaded.length === 0, `${w}px: pictures that did not load: ${unloaded.join(' ')}`);
    await page.screenshot({ path: shotPath(`front-${w}.png`), fullPage: true });
    await page.screenshot({ path: shotPath(`front-${w}-fold.png`), fullPage: false });
    await page.waitForLoadState('networkidle');
    const v = await axe('/', w, h);
    assert(v.length === 0, `front at ${w}px: axe-core: ${v.join('; ')}`);
    await page.close();
  }
  // A story: axe-core, CSP, the hero's size, the labels of the two sponsor slots.
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  watch(page, 'story');
  const resp = await page.goto(base + story, { waitUntil: 'load' });
  assert(resp.status() === 200, `story status ${resp.status()}`);
  const s = await page.evaluate(() => {
    const hero = document.querySelector('.hero img');
    return {
      hero: hero && { w: hero.getAttribute('width'), h: hero.getAttribute('height'), loaded: hero.naturalWidth > 0 },
      sponsors: [...document.querySelectorAll('.sponsor')].map((e) => e.getAttribute('aria-label')),
      searches: [...document.querySelectorAll('[role=search]')].map((e) => e.getAttribute('aria-label')),
      icon: (document.querySelector('link[rel=icon]') || {}).href || '',
    };
  });
  assert(s.hero && s.hero.w && s.hero.h && s.hero.loaded, `story hero image: ${JSON.stringify(s.hero)}`);
  assert(s.sponsors.length === 2 && new Set(s.sponsors).size === 2, `sponsor slots' labels: ${s.sponsors}`);
  assert(s.icon.includes('/static/theme/favicon.'), `favicon link: ${s.icon}`);
  await page.screenshot({ path: shotPath('story-1280.png'), fullPage: false });
  // A comment the server refuses (a website that is not http(s)): the answer lands on the error
  // summary, focused and in view, and the invalid field shows its border.
  await page.waitForTimeout(3200); // the form's minimum time to fill in
  await page.fill('#comment-name', 'Ann Reader');
  await page.fill('#comment-email', 'ann@readers.example');
  await page.fill('#comment-url', 'ftp://files.example/x');
  await page.fill('#comment-body', 'The inquiry should sit on Saturdays too.');
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('.comment-form button[type=submit]')]);
  const f = await page.evaluate(() => {
    const s = document.getElementById('comment-status');
    const r = s && s.getBoundingClientRect();
    const url = getComputedStyle(document.getElementById('comment-url'));
    const name = getComputedStyle(document.getElementById('comment-name'));
    return { hash: location.hash, focused: document.activeElement && document.activeElement.id, top: r && r.top,
      bottom: r && r.bottom, height: innerHeight, invalid: url.borderTopColor + ' ' + url.borderTopWidth,
      valid: name.borderTopColor + ' ' + name.borderTopWidth, text: s && s.innerText };
  });
  assert(f.hash === '#comment-status', `after a refused comment the address is ${f.hash}`);
  assert(f.focused === 'comment-status', `after a refused comment the focus is on ${f.focused}`);
  assert(f.top >= 0 && f.bottom <= f.height, `the error summary is not in view: ${f.top}..${f.bottom} of ${f.height}`);
  assert(/Website/.test(f.text), `the summary names the field: ${f.text}`);
  assert(f.invalid === 'rgb(138, 28, 28) 2px' && f.valid !== f.invalid, `invalid border ${f.invalid}, valid ${f.valid}`);
  await page.screenshot({ path: shotPath('comment-error-1280.png'), fullPage: false });
  const v = await axe(story, 1280, 800);
  assert(v.length === 0, `story: axe-core: ${v.join('; ')}`);
  // The search page has the header's form and its own: two labels.
  await page.goto(base + '/search?q=barrage', { waitUntil: 'load' });
  const labels = await page.evaluate(() => [...document.querySelectorAll('[role=search]')].map((e) => e.getAttribute('aria-label')));
  assert(labels.length === 2 && labels[0] && labels[1] && labels[0] !== labels[1], `search forms' labels: ${labels}`);
  // Each snippet is a passage of the story's text: where it cuts a sentence, "…" says so, on
  // either store (PostgreSQL's ts_headline marks no cut by itself).
  const snippets = await page.$$eval('.card-snippet', (ps) => ps.map((p) => p.textContent.trim()));
  assert(snippets.length >= 3, `search results with snippets: ${snippets.length}`);
  const unmarked = snippets.filter((s) => !/^[…A-Z"“‘]/.test(s) || !/[….!?"”’]$/.test(s));
  assert(unmarked.length === 0, `snippets cut mid-sentence without "…":\n${unmarked.join('\n')}`);
  const sv = await axe('/search?q=barrage', 1280, 800);
  assert(sv.length === 0, `search: axe-core: ${sv.join('; ')}`);
  await page.close();
  assert(problems.length === 0, `console and network:\n${problems.join('\n')}`);
});
