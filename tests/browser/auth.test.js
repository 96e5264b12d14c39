// Staff sign-in in Debian's Chromium: the sign-in form (the __Host- cookie is kept on
// http://127.0.0.1), axe-core on the sign-in, account, users and audit pages, no CSP violation
// under the pages' own policy,
// keyboard-only sign-in, an invitation through the Users page, a cross-site form that tries to
// sign the user out (refused: the session lives on), and sign out.
'use strict';
const { run, assert, seriousViolations, shotPath } = require('./browser.js');

const BASE = process.env.QUIRE_URL;
const PASSWORD = process.env.QUIRE_PASSWORD;

async function axe(page, what) {
  const v = await seriousViolations(page);
  assert(v.length === 0, `${what}: axe-core found serious violations:\n${v.join('\n')}`);
}

run('auth', async (browser) => {
  // CSP bypassed here so axe-core can be injected; a second context below keeps it.
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();

  // Sign in with the keyboard only.
  await page.goto(`${BASE}/admin/users`);
  assert(page.url().startsWith(`${BASE}/admin/login?next=`), `not sent to the sign-in page: ${page.url()}`);
  await axe(page, 'sign-in page');
  await page.screenshot({ path: shotPath('auth-login.png') });
  await page.keyboard.press('Tab');
  assert(await page.evaluate(() => document.activeElement.id) === 'login', 'Tab does not reach the login field first');
  await page.keyboard.type('dee');
  await page.keyboard.press('Tab');
  await page.keyboard.type('wrong password here');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  assert(await page.$('#form-error'), `no error shown: ${(await page.content()).slice(0, 800)}`);
  assert(/wrong/.test(await page.textContent('#form-error')), 'no error shown for a wrong password');
  assert(await page.inputValue('#login') === 'dee', 'the login was not kept');
  await axe(page, 'sign-in page with an error');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForNavigation(), page.press('#password', 'Enter')]);
  assert(page.url() === `${BASE}/admin/users`, `not back at the page asked for: ${page.url()}`);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === '__Host-quire_session');
  assert(session && session.httpOnly && session.secure && session.sameSite === 'Lax' && session.path === '/',
    `session cookie not kept as __Host-, HttpOnly, Secure, Lax: ${JSON.stringify(cookies)}`);

  // Users: invite someone; the one-time link is shown.
  await axe(page, 'users page');
  await page.fill('#login', 'ivy');
  await page.fill('#name', 'Ivy Reporter');
  await page.selectOption('#role', 'contributor');
  await Promise.all([page.waitForNavigation(), page.click('text=Create the account and a password link')]);
  const link = await page.inputValue('input[readonly]');
  assert(/\/admin\/reset\?token=[0-9a-f]{64}$/.test(link), `no password link shown: ${link}`);
  await axe(page, 'users page after an invitation');
  await page.screenshot({ path: shotPath('auth-users.png'), fullPage: true });

  await page.goto(`${BASE}/admin/audit`);
  await axe(page, 'audit log');
  assert((await page.content()).includes('user.reset_link'), 'the invitation is not in the audit log');
  await page.screenshot({ path: shotPath('auth-audit.png'), fullPage: true });

  // A page on another site posts a form to sign the user out everywhere: refused.
  await context.route('http://evil.test/**', (route) => route.fulfill({ contentType: 'text/html', body:
    `<!doctype html><title>x</title><form method="post" action="${BASE}/admin/logout/everywhere">` +
    '<input name="csrf" value="guess"></form><script>document.forms[0].submit()</script>' }));
  const evil = await context.newPage();
  await evil.goto('http://evil.test/');
  await evil.waitForLoadState('load');
  await evil.waitForTimeout(500);
  await evil.close();
  await page.goto(`${BASE}/admin/account`);
  assert(page.url() === `${BASE}/admin/account`, 'a cross-site form signed the user out');
  await axe(page, 'account page');

  // The same pages under their CSP: nothing of ours is blocked (no inline script or style).
  const strict = await browser.newContext();
  await strict.addCookies(await context.cookies());
  const sp = await strict.newPage();
  const cspViolations = [];
  sp.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  for (const path of ['/admin/users', '/admin/audit', '/admin/account']) {
    const r = await sp.goto(`${BASE}${path}`);
    assert(r.status() === 200 && sp.url() === `${BASE}${path}`, `${path} under CSP: ${r.status()} ${sp.url()}`);
    assert(await sp.evaluate(() => [...document.styleSheets].some((s) => s.cssRules.length > 0)),
      `${path}: the stylesheet did not load under the CSP`);
  }
  await strict.close();
  assert(cspViolations.length === 0, `CSP violations on our own pages: ${cspViolations.join('; ')}`);

  // Sign out.
  await Promise.all([page.waitForNavigation(), page.click('button:text-is("Sign out")')]);
  assert(page.url() === `${BASE}/admin/login?out=1`, `sign-out went to ${page.url()}`);
  assert((await context.cookies()).every((c) => c.name !== '__Host-quire_session'), 'the cookie is still kept after sign-out');
  await page.goto(`${BASE}/admin/users`);
  assert(page.url().startsWith(`${BASE}/admin/login`), 'still signed in after sign-out');
  await context.close();
});
