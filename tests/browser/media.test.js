// The admin's media library end to end (run by media_test.sh against a real `quire serve`): an
// author uploads an image through the library's form and sees it first with its thumbnail,
// describes it (a bad focal point is refused with the input kept), and a file that only claims
// to be a PNG is refused by name; in the story editor an image is uploaded without leaving the
// page, chosen as the hero with its preview, and is still chosen after saving; the image's page
// lists the story using it; an editor cannot delete an image in use but can delete an unused
// one; a contributor sees the library but cannot change an image. axe-core on every page.
'use strict';
const path = require('path');
const { run, assert, seriousViolations, shotPath, signIn } = require('./browser');

const BASE = process.env.QUIRE_URL;
const FILES = process.env.QUIRE_FILES;

async function as(browser, login) {
  const { ctx, page } = await signIn(browser, BASE, login, 'media-pass-' + login);
  page.on('dialog', (d) => d.accept());
  page.on('pageerror', (e) => { page.errors = (page.errors || []).concat(String(e)); });
  return { ctx, page };
}

async function axe(page, name) {
  const v = await seriousViolations(page);
  assert(v.length === 0, `axe-core on ${name}: ${v.join('; ')}`);
}

// Whether every image under selector has loaded (a broken one has no width), waiting up to 15 s:
// an image a script sets (the editor's preview after an upload) loads after the script ran,
// slowly on a loaded machine.
async function loaded(page, selector) {
  return page.waitForFunction((sel) => {
    const imgs = [...document.querySelectorAll(sel)];
    return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, selector, { timeout: 15000 }).then(() => true, () => false);
}

const flash = (page) => page.textContent('.flash').then((t) => (t || '').trim());

run('media_browser', async (browser) => {
  const avi = await as(browser, 'avi');
  let page = avi.page;

  // --- the library: reached from the navigation, empty of our images, an upload form
  await page.goto(BASE + '/admin');
  await Promise.all([page.waitForURL(/\/admin\/media$/), page.click('.admin-nav >> text=Media')]);
  assert((await page.getAttribute('.admin-nav a[href="/admin/media"]', 'aria-current')) === 'page', 'Media is the current page in the navigation');
  await axe(page, 'media library');

  // --- upload with a description
  await page.setInputFiles('#u-file', path.join(FILES, 'harbour-boats.png'));
  await page.fill('#u-alt', 'Fishing boats moored in the harbour');
  await page.fill('#u-credit', 'Avi Staff');
  await Promise.all([page.waitForURL(/\/admin\/media\?media=\d+$/), page.click('#media-upload button[type=submit]')]);
  const first = Number(page.url().match(/media=(\d+)/)[1]);
  assert(/1 image added/.test(await flash(page)), 'the upload is confirmed: ' + await flash(page));
  const card = page.locator('.media-card.fresh');
  assert((await card.count()) === 1, 'the new image is marked in the library');
  assert((await card.textContent()).includes('Fishing boats moored in the harbour'), 'its description is shown');
  assert((await page.locator('.media-card').first().getAttribute('class')).includes('fresh'), 'the new image comes first');
  assert(await loaded(page, '.media-card.fresh img'), 'its thumbnail loads');
  await page.screenshot({ path: shotPath('admin-media-library.png'), fullPage: true });

  // --- a file that only claims to be a PNG: refused, named
  await page.setInputFiles('#u-file', path.join(FILES, 'notes.png'));
  await Promise.all([page.waitForURL(/upload_error=/, { waitUntil: 'commit' }), page.click('#media-upload button[type=submit]')]);
  const refused = await flash(page);
  assert(/Not uploaded: .*notes\.png/.test(refused), 'the refused file is named: ' + refused);

  // --- describe it: a bad focal point is refused and the input kept; then saved
  await Promise.all([page.waitForURL(new RegExp('/admin/media/' + first + '$')), page.click(`.media-card a[href="/admin/media/${first}"]`)]);
  await axe(page, 'media item');
  assert(await loaded(page, '.media-preview img'), 'the image page shows the image');
  await page.fill('#m-caption', 'Boats waiting out the gale');
  await page.fill('#m-focal', '2,7');
  await page.click('.media-item button[type=submit]');
  assert(/Not saved: .*focal point/.test(await flash(page)), 'a bad focal point is refused: ' + await flash(page));
  assert((await page.inputValue('#m-caption')) === 'Boats waiting out the gale', 'the typed caption is kept after the error');
  await page.fill('#m-focal', '0.3,0.6');
  await page.fill('#m-alt', 'Blue fishing boats moored side by side in the harbour');
  await Promise.all([page.waitForURL(/\?ok=/), page.click('.media-item button[type=submit]')]);
  assert((await page.inputValue('#m-alt')) === 'Blue fishing boats moored side by side in the harbour', 'the new description is saved');
  assert((await page.inputValue('#m-focal')) === '0.3,0.6', 'the focal point is saved');
  assert((await page.textContent('.panel:has(h2)')).includes('No entry you can open uses this image'), 'nothing uses it yet');

  // --- the editor: upload without leaving the story, chosen as the hero with its preview
  await page.goto(BASE + '/admin/entries/new?type=article');
  const fields = await page.$$eval('#g-hero .form-field :is(input, select, textarea)', (els) => els.map((e) => e.id).filter((id) => id));
  assert(fields[0] === 'f-hero_media', 'the hero group starts with the image picker: ' + fields.join(' '));
  assert(await page.isVisible('text=Upload a new image'), 'the editor offers an upload beside the picker');
  await page.fill('#f-title', 'Gale keeps the fleet in port');
  await page.fill('#f-body', 'The boats stayed in.');
  await page.setInputFiles('#f-hero_media-upload', path.join(FILES, 'storm-sky.png'));
  await page.waitForFunction(() => /Uploaded and chosen: #\d+/.test(document.querySelector('.media-upload-inline [role=status]').textContent), null, { timeout: 15000 });
  const second = Number(await page.inputValue('#f-hero_media'));
  assert(second > first, `the uploaded image is chosen in the picker (${second})`);
  assert(await loaded(page, '#g-hero .hero-preview img'), 'its preview is shown');
  assert(/Describe it/.test(await page.textContent('.media-upload-inline [role=status]')), 'an undescribed upload is pointed out');
  await axe(page, 'editor after an upload');
  await page.locator('#g-hero').screenshot({ path: shotPath('admin-editor-upload.png') });
  await page.fill('#f-hero_alt', 'Dark clouds over the harbour');
  await Promise.all([page.waitForURL(/\/admin\/entries\/\d+\?ok=/), page.click('#save')]);
  const story = Number(page.url().match(/entries\/(\d+)/)[1]);
  assert((await page.inputValue('#f-hero_media')) === String(second), 'the hero is still chosen after saving');
  assert(!page.errors, 'no script errors: ' + page.errors);

  // --- the image's page lists the story using it
  await page.goto(BASE + '/admin/media/' + second);
  const used = await page.textContent('.panel:has(h2)');
  assert(used.includes('Gale keeps the fleet in port'), 'the image page lists the story using it');
  assert(await page.isVisible(`a[href="/admin/entries/${story}"]`), 'with a link to it');
  assert(!(await page.isVisible('text=Delete this image')), 'an author is not offered deletion');

  // --- an editor: an image in use is not deleted; an unused one is, files and all
  const ed = await as(browser, 'ed');
  page = ed.page;
  await page.goto(BASE + '/admin/media/' + second);
  await page.click('text=Delete this image');
  assert(/Not deleted: .*used by/.test(await flash(page)), 'an image in use is not deleted: ' + await flash(page));
  assert((await page.goto(BASE + '/admin/media/' + second)).status() === 200, 'and is still there');
  await page.goto(BASE + '/admin/media/' + first);
  const file = await page.getAttribute('.media-preview img', 'src');
  await Promise.all([page.waitForURL(/\/admin\/media\?ok=/), page.click('text=Delete this image')]);
  assert(/deleted/.test(await flash(page)), 'an unused image is deleted: ' + await flash(page));
  assert((await page.goto(BASE + '/admin/media/' + first)).status() === 404, 'its page is gone');
  assert((await page.request.get(BASE + file)).status() === 404, 'and so are its files');

  // --- a contributor: sees the library, cannot change an image
  const cora = await as(browser, 'cora');
  page = cora.page;
  await page.goto(BASE + '/admin/media/' + second);
  assert(!(await page.isVisible('#m-alt')), 'a contributor gets no form to change an image');
  const status = await page.evaluate(async (id) => {
    const csrf = document.querySelector('input[name=csrf]').value;
    const r = await fetch('/admin/media/' + id, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, alt: 'changed by a contributor' }) });
    return r.status;
  }, second);
  assert(status === 403, 'a contributor cannot change an image by posting the form: ' + status);
  await axe(page, 'media item (contributor)');
});
