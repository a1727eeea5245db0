// A counsellor's clinical record on a phone and a desktop: a SOAP note written (first
// with a required field missing), signed and amended with its history kept; a PHQ-9 with
// item 9 positive raising the safety alert, which is then closed with what was done; a
// PDF uploaded and downloaded intact, and a file of the wrong type refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startHaven, launchBrowser, checkAccessibility, screenshot, VIEWPORTS, signInAs } from './support.mjs';

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

/** Signs in as `email` and asserts it worked (support.mjs). */
const signIn = (page, email) => signInAs(page, haven.url, email);

/** A small PDF of our own making, with a marker to find after the round trip. */
function pdf(marker) {
  return Buffer.from(`%PDF-1.4\n% ${marker}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n`);
}

/** The `n`th client of the counsellor's notes owed with no open safety alert. */
async function quietClient(page, n) {
  await page.goto(`${haven.url}/notes`);
  const hrefs = await page.locator('#notes-owed [data-label=Client] a').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
  const distinct = [...new Set(hrefs)];
  const quiet = [];
  for (const href of distinct) {
    await page.goto(`${haven.url}${href}`);
    if ((await page.locator('.safety-alert').count()) === 0) quiet.push(href);
  }
  assert.ok(quiet.length > n, `at least ${n + 1} clients without an alert`);
  return quiet[n];
}

for (const [i, viewport] of VIEWPORTS.entries()) {
  test(`a counsellor writes, signs and amends a SOAP note, records a PHQ-9 and files a PDF (${viewport.name})`, async () => {
    const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height }, acceptDownloads: true });
    await context.route((url) => !url.href.startsWith(haven.url), (route) => route.abort());
    const page = await context.newPage();
    const shot = (name) => screenshot(page, `${viewport.name}-clinical-${name}`);

    await signIn(page, 'clinician@demo.haven.example');
    await page.goto(`${haven.url}/notes`);
    await checkAccessibility(page, 'my notes');
    await shot('01-my-notes');
    const client = await quietClient(page, i);

    // The notes tab: start a SOAP note.
    await page.goto(`${haven.url}${client}/notes`);
    await checkAccessibility(page, 'the notes tab');
    await page.selectOption('#template', 'soap');
    await page.getByRole('button', { name: 'Start the note' }).click();
    await page.waitForURL(/\/notes\/new\?template=soap/);
    await checkAccessibility(page, 'the note editor');
    await shot('02-editor');

    // Signing without the plan: the note is saved as a draft and the plan is named.
    await page.fill('#field-subjective', 'Says the week was calmer; marker SUBJ-' + viewport.name);
    await page.fill('#field-objective', 'On time, engaged.');
    await page.fill('#field-assessment', 'Improving.');
    await page.getByRole('button', { name: 'Sign the note' }).click();
    await page.waitForURL(/\/notes\/[0-9a-f-]+\/edit\?check=sign$/);
    assert.ok(await page.locator('#error-summary').isVisible(), 'the summary of what is missing');
    assert.match(await page.locator('#field-plan-error').innerText(), /Plan is needed before signing/);
    assert.equal(await page.inputValue('#field-subjective'), 'Says the week was calmer; marker SUBJ-' + viewport.name, 'nothing typed is lost');
    await checkAccessibility(page, 'the editor with a mistake');
    await shot('03-missing-plan');

    await page.fill('#field-plan', 'Review in a week.');
    await page.getByRole('button', { name: 'Sign the note' }).click();
    await page.waitForURL(/\/notes\/[0-9a-f-]+\?done=signed$/);
    const signedUrl = page.url().replace(/\?.*$/, '');
    assert.equal(await page.locator('#note-status').innerText(), 'Signed');
    assert.ok(await page.getByText('Content verified').isVisible(), 'the content hash holds');
    assert.ok(await page.getByText('marker SUBJ-' + viewport.name).isVisible());
    assert.equal(await page.getByRole('link', { name: 'Continue writing' }).count(), 0, 'a signed note offers no editing');
    await checkAccessibility(page, 'a signed note');
    await shot('04-signed');

    // Amend it: a reason is needed; the amendment is a new version.
    await page.getByRole('button', { name: 'Start an amendment' }).click();
    assert.match(await page.locator('#reason-error').innerText(), /say why/);
    await page.fill('#reason', 'Added the plan for the school meeting');
    await page.getByRole('button', { name: 'Start an amendment' }).click();
    await page.waitForURL(/\/notes\/[0-9a-f-]+\/edit$/);
    assert.ok(page.url() !== signedUrl + '/edit', 'the amendment is a new note');
    assert.ok(await page.getByText('Reason: Added the plan for the school meeting').isVisible());
    await page.fill('#field-plan', 'Review in a week; join the school meeting on Friday.');
    await page.getByRole('button', { name: 'Sign the note' }).click();
    await page.waitForURL(/\?done=signed$/);
    assert.ok(await page.getByText('join the school meeting').isVisible());
    const versions = page.locator('#versions li');
    assert.equal(await versions.count(), 2, 'both versions are listed');
    assert.match(await versions.first().innerText(), /Version 1.*Amended/s);
    await checkAccessibility(page, 'an amended note');
    await shot('05-amended');

    // The original is unchanged and says it was amended.
    await page.goto(signedUrl);
    assert.equal(await page.locator('#note-status').innerText(), 'Amended');
    assert.ok(await page.getByText('Review in a week.', { exact: true }).isVisible());
    assert.equal(await page.getByRole('button', { name: 'Start an amendment' }).count(), 0);

    // A PHQ-9: one item left out is named; then item 9 positive raises the alert.
    await page.goto(`${haven.url}${client}/measures`);
    await page.getByRole('link', { name: 'Record a PHQ-9' }).click();
    await checkAccessibility(page, 'the PHQ-9 form');
    for (let item = 1; item <= 8; item += 1) await page.check(`#item-${item}-1`);
    await page.getByRole('button', { name: 'Record the score' }).click();
    assert.match(await page.locator('#error-summary').innerText(), /Answer item 9/);
    assert.ok(await page.locator('#item-3-1').isChecked(), 'answers given are kept');
    await shot('06-phq9-missing');
    await page.check('#item-9-1');
    await page.getByRole('button', { name: 'Record the score' }).click();
    await page.waitForURL(/\/measures\?done=alert$/);
    const alert = page.locator('.safety-alert');
    assert.equal(await alert.count(), 1);
    assert.match(await alert.innerText(), /risk of self-harm/);
    assert.match(await page.locator('#client-measures tbody tr').first().innerText(), /9 \/ 27.*Mild/s);
    const chart = page.locator('svg.trend-chart[role=img]');
    assert.ok((await chart.count()) >= 1, 'the trend is drawn');
    assert.match(await chart.first().locator('desc').textContent(), /PHQ-9/);
    await checkAccessibility(page, 'the measures tab with an alert');
    await shot('07-alert');

    // The banner follows the chart's other tabs until someone says what was done.
    await page.goto(`${haven.url}${client}`);
    assert.equal(await page.locator('.safety-alert').count(), 1);
    await page.locator('.safety-alert summary').click();
    await page.locator('.safety-alert textarea').fill('Phoned; safety plan reviewed with the client.');
    await page.getByRole('button', { name: 'Close the alert' }).click();
    await page.waitForURL(/\?done=acknowledged$/);
    assert.equal(await page.locator('.safety-alert').count(), 0);

    // Documents: a PDF goes in and comes back byte for byte; a text file is refused.
    await page.goto(`${haven.url}${client}/documents`);
    await checkAccessibility(page, 'the documents tab');
    const marker = `PDF-${viewport.name}-${Date.now()}`;
    await page.setInputFiles('#file', { name: `Referral letter ${viewport.name}.pdf`, mimeType: 'application/pdf', buffer: pdf(marker) });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.waitForURL(/\/documents\?done=uploaded$/);
    const link = page.getByRole('link', { name: `Referral letter ${viewport.name}.pdf` });
    assert.ok(await link.isVisible());
    await shot('08-documents');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    assert.equal(download.suggestedFilename(), `Referral letter ${viewport.name}.pdf`);
    assert.deepEqual(readFileSync(await download.path()), pdf(marker));

    await page.setInputFiles('#file', { name: 'notes.pdf', mimeType: 'application/pdf', buffer: Buffer.from('just text, not a PDF') });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    assert.match(await page.locator('#error-summary').innerText(), /not uploaded/);
    assert.equal(await page.getByRole('link', { name: 'notes.pdf' }).count(), 0, 'nothing was kept');
    await checkAccessibility(page, 'a refused upload');
    await shot('09-refused');
    await context.close();
  });
}
