// Sign-in with two-step verification, as a person does it, on a phone and a desktop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHaven, launchBrowser, checkAccessibility, screenshot, signInAs, totp, VIEWPORTS, DEMO_PASSWORD } from './support.mjs';

let haven;
let browser;

before(async () => {
  haven = await startHaven();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await haven?.stop();
});

const PEOPLE = { mobile: 'clinician@demo.haven.example', desktop: 'casemanager@demo.haven.example' };

for (const viewport of VIEWPORTS) {
  test(`sign in, turn on two-step verification, sign in with a code (${viewport.name})`, async () => {
    const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height } });
    // Only Haven: nothing else may be fetched (CSP forbids it; this proves it).
    await context.route((url) => !url.href.startsWith(haven.url), (route) => route.abort());
    const page = await context.newPage();
    const email = PEOPLE[viewport.name];
    const shot = (name) => screenshot(page, `${viewport.name}-${name}`);

    await page.goto(`${haven.url}/`);
    assert.match(page.url(), /\/sign-in\?next=\/$/, 'signed out: sent to sign in');
    await checkAccessibility(page, 'the sign-in page');
    await shot('01-sign-in');

    await page.fill('#email', email);
    await page.fill('#password', 'not the password');
    await page.click('main button[type=submit]');
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /Email or password is incorrect/);
    assert.equal(await page.getAttribute('#password', 'aria-invalid'), 'true');
    await checkAccessibility(page, 'the sign-in page with an error');
    await shot('02-sign-in-error');

    await page.fill('#password', DEMO_PASSWORD);
    await page.click('main button[type=submit]');
    await page.waitForURL(`${haven.url}/`);
    assert.match(await page.locator('h1').innerText(), /Hello/);
    await checkAccessibility(page, 'the home page');

    await page.goto(`${haven.url}/account/two-factor`);
    await checkAccessibility(page, 'two-step enrolment');
    await shot('03-enrol');
    assert.equal(await page.locator('figure.qr svg').count(), 1, 'the QR code is drawn');
    const key = (await page.locator('#manual-key').innerText()).trim();
    await page.fill('#code', totp(key));
    await page.click('main button[type=submit]');
    await page.locator('#recovery-codes').waitFor();
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    await checkAccessibility(page, 'the recovery codes');
    await shot('04-recovery-codes');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/sign-in\?notice=signed_out/);
    await page.fill('#email', email);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('main button[type=submit]');
    await page.waitForURL(`${haven.url}/sign-in/two-factor`);
    await checkAccessibility(page, 'the code page');
    await shot('05-code');
    // The enrolment used this time step's code: the next step's is accepted, once.
    await page.fill('#code', totp(key, Date.now() / 1000 + 30));
    await page.click('main button[type=submit]');
    await page.waitForURL(`${haven.url}/`);
    assert.match(await page.locator('h1').innerText(), /Hello/);
    await page.goto(`${haven.url}/account`);
    assert.match(await page.locator('body').innerText(), /Two-step verification: on/);
    await checkAccessibility(page, 'the account page');
    await shot('06-account');
    await context.close();
  });
}

for (const viewport of VIEWPORTS) {
  test(`an admin sees the staff and the access granted lately (${viewport.name})`, async () => {
    const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height } });
    await context.route((url) => !url.href.startsWith(haven.url), (route) => route.abort());
    const page = await context.newPage();
    await signInAs(page, haven.url, 'admin@demo.haven.example');
    await page.goto(`${haven.url}/admin/users`);
    assert.match(await page.locator('h1').innerText(), /Staff accounts/);
    const grants = await page.locator('#grants-title').innerText();
    assert.match(grants, /Access granted in the last 30 days/);
    assert.match(await page.locator('#grants').innerText(), /was given the Counsellor \/ clinician role by demo on the command line/);
    await checkAccessibility(page, 'the staff page');
    await screenshot(page, `${viewport.name}-07-staff`);
    await context.close();
  });
}

for (const viewport of VIEWPORTS) {
  test(`an admin sees the organisation's backups and their schedule (${viewport.name})`, async () => {
    const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height } });
    await context.route((url) => !url.href.startsWith(haven.url), (route) => route.abort());
    const page = await context.newPage();
    await signInAs(page, haven.url, 'admin@demo.haven.example');
    await page.goto(`${haven.url}/admin/backups`);
    assert.match(await page.locator('h1').innerText(), /Backups/);
    // The demo has made no backup yet: the page says so plainly.
    assert.match(await page.locator('[role=alert]').innerText(), /no verified backup from the last 24 hours/);
    assert.equal(await page.locator('#time').inputValue(), '02:00');
    await checkAccessibility(page, 'the backups page');
    await screenshot(page, `${viewport.name}-08-backups`);
    await context.close();
  });
}
