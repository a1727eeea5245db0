// A counsellor's day with clients and referrals, as a person does it, on a phone and a
// desktop: register a client, find them by a misspelled name, open the chart, record an
// inbound referral, triage it and accept it (which registers the referred person).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHaven, launchBrowser, checkAccessibility, screenshot, VIEWPORTS, DEMO_PASSWORD } from './support.mjs';

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

// Distinct fictional people per viewport, so each search has one right answer.
const PEOPLE = {
  mobile: {
    email: 'casemanager@demo.haven.example',
    client: ['Marigold', 'Quillfeather'],
    typo: 'Marigld Quilfeathr',
    referred: ['Juniper', 'Ashcombe'],
  },
  desktop: {
    email: 'clinician@demo.haven.example',
    client: ['Thaddeus', 'Brightmoor'],
    typo: 'Thadeus Brigthmoor',
    referred: ['Saffron', 'Dewhurst'],
  },
};

for (const viewport of VIEWPORTS) {
  test(`register, find with a typo, refer, triage and accept (${viewport.name})`, async () => {
    const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height } });
    await context.route((url) => !url.href.startsWith(haven.url), (route) => route.abort());
    const page = await context.newPage();
    const who = PEOPLE[viewport.name];
    const shot = (name) => screenshot(page, `${viewport.name}-clients-${name}`);

    await page.goto(`${haven.url}/sign-in`);
    await page.fill('#email', who.email);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('main button[type=submit]');
    await page.waitForURL(`${haven.url}/`);
    await checkAccessibility(page, 'the home page');
    await shot('01-home');

    // The navigation: a drawer behind "Menu" on a phone, a sidebar on a desktop.
    const menu = page.locator('.nav-toggle');
    if (viewport.name === 'mobile') {
      assert.equal(await page.locator('#app-nav').isVisible(), false, 'the drawer starts closed');
      await menu.click();
      assert.equal(await page.locator('#app-nav').isVisible(), true, 'the drawer opens');
      assert.equal(await menu.getAttribute('aria-expanded'), 'true');
      await shot('02-drawer');
      await page.keyboard.press('Escape');
      assert.equal(await page.locator('#app-nav').isVisible(), false, 'Escape closes it');
    } else {
      assert.equal(await menu.isVisible(), false);
      assert.equal(await page.locator('#app-nav').isVisible(), true, 'a sidebar on a desktop');
    }

    // Register a client; a mistake first, then put right.
    await page.goto(`${haven.url}/clients/new`);
    await page.fill('#f-legal_given_name', who.client[0]);
    await page.fill('#f-date_of_birth', '2099-01-01');
    await page.click('main button[type=submit]');
    await page.locator('#error-summary').waitFor();
    assert.match(await page.locator('#error-summary').innerText(), /Legal family name is required/);
    assert.match(await page.locator('#error-summary').innerText(), /Date of birth cannot be in the future/);
    assert.equal(await page.getAttribute('#f-legal_family_name', 'aria-invalid'), 'true');
    assert.equal(await page.inputValue('#f-legal_given_name'), who.client[0], 'what was typed is kept');
    await checkAccessibility(page, 'the registration form with errors');
    await shot('03-register-errors');
    await page.fill('#f-legal_family_name', who.client[1]);
    await page.fill('#f-date_of_birth', '2008-03-14');
    await page.check('#f-ok_to_text');
    await page.click('main button[type=submit]');
    await page.waitForURL(/\/clients\/[0-9a-f-]+\?done=created$/);
    assert.equal(await page.locator('h1').innerText(), who.client.join(' '));

    // Find them again by a misspelled name.
    await page.goto(`${haven.url}/clients`);
    await page.fill('#q', who.typo);
    await page.click('form[role=search] button[type=submit]');
    await page.locator('#results').waitFor();
    const first = page.locator('#results tbody tr').first();
    assert.match(await first.innerText(), new RegExp(who.client.join(' ')));
    await checkAccessibility(page, 'the search results');
    await shot('04-search');
    await first.locator('a').click();
    await page.locator('h1').waitFor();
    assert.equal(await page.locator('h1').innerText(), who.client.join(' '));
    assert.match(await page.locator('.safety').innerText(), /Text:\s*Safe/);
    assert.match(await page.locator('.safety').innerText(), /Never leave voicemail/);
    await checkAccessibility(page, 'the chart');
    await shot('05-chart');

    // Record an inbound referral for someone new.
    await page.goto(`${haven.url}/referrals/new`);
    await page.fill('#f-person-given_name', who.referred[0]);
    await page.fill('#f-person-family_name', who.referred[1]);
    await page.selectOption('#f-source_kind', 'organisation');
    await page.fill('#f-source_name', 'Sample Valley School');
    await page.selectOption('#f-urgency', 'soon');
    await page.fill('#f-reason', 'Not attending school; low mood');
    await checkAccessibility(page, 'the referral form');
    await shot('06-referral-form');
    await page.click('main button[type=submit]');
    await page.waitForURL(/\/referrals\/[0-9a-f-]+\?done=referral$/);
    assert.match(await page.locator('h1').innerText(), new RegExp(who.referred.join(' ')));
    await checkAccessibility(page, 'a received referral');

    // Triage: assign it to the demo counsellor, then accept.
    const counsellor = await page.locator('#assigned_to option', { hasText: 'Alex Demo' }).getAttribute('value');
    await page.selectOption('#assigned_to', counsellor);
    await page.click('button:has-text("Mark as triaged")');
    await page.waitForURL(/\?done=moved$/);
    assert.match(await page.locator('#referral-history').innerText(), /Triaged/);
    await shot('07-triaged');
    await page.click('button:has-text("Accept")');
    await page.waitForURL(/\/clients\/[0-9a-f-]+\/referrals\?done=moved$/);
    assert.equal(await page.locator('h1').innerText(), who.referred.join(' '), 'the person is now a client');
    assert.equal(await page.locator('#client-referrals tbody tr').count(), 1);
    await checkAccessibility(page, 'the chart referrals tab');
    await shot('08-accepted');
    await context.close();
  });
}

for (const viewport of VIEWPORTS) {
  test(`the style guide shows every component and the API guide reads, accessibly (${viewport.name})`, async () => {
    const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height } });
    await context.route((url) => !url.href.startsWith(haven.url), (route) => route.abort());
    const page = await context.newPage();
    await page.goto(`${haven.url}/sign-in`);
    await page.fill('#email', 'frontdesk@demo.haven.example');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('main button[type=submit]');
    await page.waitForURL(`${haven.url}/`);
    await page.goto(`${haven.url}/style-guide`);
    for (const id of ['tokens', 'buttons', 'forms', 'alerts', 'badges', 'tabs', 'table', 'empty', 'pagination', 'dialog', 'toast']) {
      assert.equal(await page.locator(`#${id}`).count(), 1, `the style guide shows ${id}`);
    }
    // With script, the dialog is modal behind its button.
    assert.equal(await page.locator('#example-dialog').isVisible(), false);
    await page.click('button[data-dialog=example-dialog]');
    assert.equal(await page.locator('#example-dialog').isVisible(), true);
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('#example-dialog').isVisible(), false);
    await checkAccessibility(page, 'the style guide');
    await screenshot(page, `${viewport.name}-style-guide`);
    // The API guide: scopes and every operation, readable on a phone too.
    await page.goto(`${haven.url}/api/docs`);
    assert.ok((await page.locator('#scope-list tbody tr').count()) >= 10, 'the guide lists the scopes');
    assert.ok((await page.locator('#operation-list li').count()) >= 80, 'the guide lists every operation');
    await checkAccessibility(page, 'the API guide');
    await screenshot(page, `${viewport.name}-api-docs`);
    await context.close();
  });
}
