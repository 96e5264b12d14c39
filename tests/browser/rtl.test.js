// The Arabic front page and a story in Chromium: dir="rtl" mirrors the layout (the site title
// and first nav item start at the right, the search box sits at the left, no sideways
// scrolling), the UI strings are Arabic, axe-core finds nothing serious; screenshots of the
// front page at 1280 and 390 px wide for people to look at.
'use strict';
const { run, assert, seriousViolations, shotPath } = require('./browser');

const URL = process.env.QUIRE_URL;

run('rtl', async (browser) => {
  for (const width of [1280, 390]) {
    const page = await browser.newPage({ viewport: { width, height: 800 } });
    const res = await page.goto(URL + '/');
    assert(res.status() === 200, `front page: ${res.status()}`);
    const html = await page.evaluate(() => ({
      dir: document.documentElement.dir, lang: document.documentElement.lang,
      computed: getComputedStyle(document.body).direction,
      skip: document.querySelector('.skip-link').textContent,
      scroll: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    }));
    assert(html.dir === 'rtl' && html.lang === 'ar' && html.computed === 'rtl', `direction: ${JSON.stringify(html)}`);
    assert(html.skip === 'انتقل إلى المحتوى', `skip link: ${html.skip}`);
    assert(html.scroll <= 0, `${width}px: scrolls sideways by ${html.scroll}px`);
    // Mirrored: the site title's right edge is near the right of the page, the first section
    // link is right of the second.
    const box = async (sel) => page.locator(sel).first().boundingBox();
    const title = await box('.site-title');
    assert(width - (title.x + title.width) < width * 0.2, `${width}px: site title not at the right: ${JSON.stringify(title)}`);
    if (width === 1280) {
      const links = page.locator('.site-nav a');
      const first = await links.nth(0).boundingBox(), second = await links.nth(1).boundingBox();
      assert(first.x > second.x, `nav not mirrored: ${first.x} vs ${second.x}`);
      const search = await box('.site-search');
      assert(search.x < title.x, `search form should be left of the title in RTL: ${search.x} vs ${title.x}`);
    }
    const bad = await seriousViolations(page);
    assert(bad.length === 0, `axe-core: ${bad.join('; ')}`);
    await page.screenshot({ path: shotPath(`front-ar-${width}.png`), fullPage: true });
    await page.close();
  }
  // A story: the byline and share count in Arabic, the blockquote/notice borders on the right.
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(URL + '/');
  await page.locator('.front-lead-title a, .card-title a').first().click();
  const text = await page.locator('main').innerText();
  assert(text.includes('اترك تعليقًا'), 'story: no Arabic comment form heading');
  assert(/مشارك/.test(await page.locator('.share-total').innerText()), 'story: share count not in Arabic');
  await page.screenshot({ path: shotPath('story-ar-1280.png'), fullPage: true });
  await page.close();
});
