// The help centre in a real browser: an anonymous reader searches (with a typo), reads
// and answers "was this helpful?" with no cookie ever set; a help editor writes an article
// with the live preview (raw HTML shown as text), saves, publishes, adds an image and sees
// the revisions and usage; the staff app's help panel asks for its page's articles with
// no cookie, no referrer and nothing but the page key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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

for (const viewport of VIEWPORTS) {
  test(`an anonymous reader searches, reads and answers, and gets no cookie (${viewport.name})`, async () => {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const setCookies = [];
    page.on('response', async (response) => {
      const header = await response.headerValue('set-cookie');
      if (header) setCookies.push(`${response.url()}: ${header}`);
    });

    await page.goto(`${haven.url}/help`);
    await assert.doesNotReject(page.getByRole('heading', { name: 'Help centre', level: 1 }).waitFor());
    await checkAccessibility(page, `help index (${viewport.name})`);
    await screenshot(page, `help-index-${viewport.name}`);

    // A misspelling still finds the article.
    await page.fill('#help-q', 'apointment');
    await page.click('.help-search button');
    await page.waitForURL(/\/help\/search\?q=apointment/);
    const titles = await page.locator('#results li strong').allTextContents();
    assert.ok(titles.includes('Booking an appointment'), titles.join(' | '));
    await checkAccessibility(page, `help search (${viewport.name})`);

    // A word of a body: the match is marked.
    await page.fill('#help-q', 'double-book');
    await page.click('.help-search button');
    await page.waitForURL(/\/help\/search/);
    assert.ok((await page.locator('#results mark').count()) >= 1);
    await screenshot(page, `help-search-${viewport.name}`);

    await page.click('#results a >> nth=0');
    await page.waitForURL(/\/help\/articles\//);
    await checkAccessibility(page, `help article (${viewport.name})`);
    await page.fill('#comment', 'Say where the Book button is on a phone.');
    await page.getByRole('button', { name: 'No' }).click();
    await page.waitForURL(/thanks/);
    await assert.doesNotReject(page.getByRole('heading', { name: 'Thank you' }).waitFor());
    await screenshot(page, `help-article-${viewport.name}`);

    assert.deepEqual(setCookies, [], 'no help response sets a cookie');
    assert.deepEqual(await context.cookies(), []);
    await context.close();
  });
}

test('a help editor writes with a live preview, publishes, adds an image, and sees revisions and usage', async () => {
  const context = await browser.newContext({ viewport: VIEWPORTS[0] });
  const page = await context.newPage();
  await signIn(page, 'helpeditor@demo.haven.example');
  await page.goto(`${haven.url}/help-editor`);
  await checkAccessibility(page, 'help editor list');
  await page.getByRole('link', { name: 'New article' }).click();

  // Mistakes are named, and nothing is saved.
  await page.getByRole('button', { name: 'Save as draft' }).click();
  await assert.doesNotReject(page.locator('#error-summary').waitFor());
  const problems = await page.locator('#error-summary li').allTextContents();
  assert.ok(problems.some((p) => p.startsWith('Title')), problems.join(' | '));

  await page.fill('#f-title', 'Printing a client letter');
  await page.fill('#f-page_keys', 'clients.search');
  await page.fill('#body_markdown', 'Use **Print** on the chart.\n\n<script>alert(1)</script> <img src=x onerror=alert(2)>');
  // The live preview: rendered and sanitised by the server as it will be published.
  await page.locator('#preview-pane strong').waitFor();
  assert.equal(await page.locator('#preview-pane strong').textContent(), 'Print');
  assert.equal(await page.locator('#preview-pane script, #preview-pane img').count(), 0);
  assert.match(await page.locator('#preview-pane').textContent(), /<script>alert\(1\)<\/script>/);
  await checkAccessibility(page, 'help editor, new article');
  await screenshot(page, 'help-editor-new-mobile');
  await page.getByRole('button', { name: 'Save as draft' }).click();
  await page.waitForURL(/\/help-editor\/articles\/[0-9a-f-]+\?done=created/);
  assert.equal(await page.locator('#article-status').textContent(), 'Draft');

  await page.getByRole('button', { name: 'Publish', exact: true }).click();
  await page.waitForURL(/done=published/);
  assert.equal(await page.locator('#article-status').textContent(), 'Published');

  // An image of our own making (a screenshot), uploaded and listed with its Markdown.
  const png = await page.screenshot({ clip: { x: 0, y: 0, width: 40, height: 30 } });
  await page.setInputFiles('#image', { name: 'print-button.png', mimeType: 'image/png', buffer: png });
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.waitForURL(/done=image/);
  const markdown = await page.locator('#image-list code').first().textContent();
  const imageUrl = markdown.match(/\((\/api\/help\/v1\/images\/[0-9a-f-]+)\)/)[1];
  const image = await context.request.get(`${haven.url}${imageUrl}`);
  assert.equal(image.status(), 200);
  assert.equal(image.headers()['content-type'], 'image/png');
  assert.deepEqual(Buffer.from(await image.body()), png);
  await screenshot(page, 'help-editor-article-mobile');

  await page.getByRole('link', { name: 'Revisions' }).click();
  assert.equal(await page.locator('#revisions > li').count(), 2, 'created, then published');
  await checkAccessibility(page, 'help revisions');

  await page.goto(`${haven.url}/help-editor/usage`);
  await assert.doesNotReject(page.locator('#totals').waitFor());
  await checkAccessibility(page, 'help usage');
  await screenshot(page, 'help-usage-mobile');
  await context.close();

  // Readers see it, without the script.
  const reader = await browser.newContext();
  const readerPage = await reader.newPage();
  await readerPage.goto(`${haven.url}/help/articles/printing-a-client-letter`);
  assert.equal(await readerPage.locator('.help-body script, .help-body img[onerror]').count(), 0);
  assert.equal(await readerPage.locator('.help-body strong').textContent(), 'Print');
  await reader.close();
});

test('the help panel asks for its page key only, with no cookie and no referrer', async () => {
  for (const viewport of VIEWPORTS) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    await signIn(page, 'frontdesk@demo.haven.example');
    assert.ok((await context.cookies()).length > 0, 'the staff app itself has its session cookie');
    const helpRequests = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname.startsWith('/api/help/')) helpRequests.push(request);
    });
    await page.goto(`${haven.url}/clients?q=Demo`);
    await page.getByText('Help for this page').click();
    await page.locator('.help-panel-body li a').first().waitFor();
    const titles = await page.locator('.help-panel-body li a').allTextContents();
    assert.ok(titles.includes('Searching for a client'), titles.join(' | '));
    await checkAccessibility(page, `help panel (${viewport.name})`);
    await screenshot(page, `help-panel-${viewport.name}`);

    assert.equal(helpRequests.length, 1);
    const request = helpRequests[0];
    assert.equal(new URL(request.url()).pathname + new URL(request.url()).search, '/api/help/v1/articles?page=clients.search');
    const headers = await request.allHeaders();
    assert.equal(headers.cookie, undefined, 'no cookie');
    assert.equal(headers.referer, undefined, 'no referrer (it would name the page and its search)');
    assert.equal(headers.authorization, undefined);
    await context.close();
  }
});
