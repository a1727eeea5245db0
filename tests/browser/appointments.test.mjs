// Front desk's day on a phone and a desktop: the day's list from the demo schedule,
// checking a client in from the list, marking another appointment a no-show from its
// page, and a counsellor's day.
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

/** The `n`th weekday (Monday to Friday) after today, as YYYY-MM-DD in UTC (the demo
 * organisation's zone), where the demo schedule has appointments. */
function weekday(n) {
  const day = new Date();
  let found = 0;
  while (found < n) {
    day.setUTCDate(day.getUTCDate() + 1);
    if (day.getUTCDay() !== 0 && day.getUTCDay() !== 6) found += 1;
  }
  return day.toISOString().slice(0, 10);
}

/** Signs in as `email` and asserts it worked (support.mjs). */
const signIn = (page, email) => signInAs(page, haven.url, email);

for (const [i, viewport] of VIEWPORTS.entries()) {
  test(`front desk checks a client in and marks a no-show (${viewport.name})`, async () => {
    const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height } });
    await context.route((url) => !url.href.startsWith(haven.url), (route) => route.abort());
    const page = await context.newPage();
    const shot = (name) => screenshot(page, `${viewport.name}-appointments-${name}`);

    await signIn(page, 'frontdesk@demo.haven.example');
    assert.ok(await page.getByRole('heading', { name: "Today's appointments" }).isVisible());
    const date = weekday(i + 1);
    await page.goto(`${haven.url}/appointments?date=${date}`);
    await checkAccessibility(page, 'the day list');
    await shot('01-day');
    const rows = page.locator('#agenda tbody tr');
    assert.ok((await rows.count()) >= 6, 'the demo schedule fills the day');

    // Check in the first client from the list; the list comes back with them arrived.
    const first = rows.first();
    await first.getByRole('button', { name: /Check in/ }).click();
    await page.waitForURL(`${haven.url}/appointments?date=${date}`);
    assert.match(await rows.first().locator('[data-label=Status]').innerText(), /Arrived/);
    await shot('02-checked-in');

    // The second: open it and record that the client did not attend.
    await rows.nth(1).locator('[data-label=Time] a').click();
    await checkAccessibility(page, 'an appointment');
    await shot('03-appointment');
    await page.getByRole('button', { name: 'Did not attend' }).click();
    await page.waitForURL(/\?done=1$/);
    assert.ok(await page.getByText('No-show').first().isVisible());
    assert.ok(await page.getByRole('button', { name: 'Undo' }).isVisible());
    await checkAccessibility(page, 'a no-show');
    await shot('04-no-show');

    // A cancellation without a reason names what is missing.
    await page.goto(`${haven.url}/appointments?date=${date}`);
    await rows.nth(2).locator('[data-label=Time] a').click();
    await page.getByRole('button', { name: 'Cancel the appointment' }).click();
    assert.ok(await page.locator('#f-reason-error').isVisible());
    assert.ok(await page.locator('#error-summary').isVisible());
    await checkAccessibility(page, 'a cancellation with errors');
    await shot('05-cancel-errors');

    // The Harbour Room's week.
    await page.goto(`${haven.url}/appointments/week?date=${date}`);
    await page.selectOption('#week-room', { label: 'Harbour Room' });
    await page.getByRole('button', { name: 'Show the week' }).click();
    assert.match(await page.locator('h1').innerText(), /^Harbour Room: week of/);
    assert.equal(await page.locator('.week-day').count(), 7);
    assert.ok((await page.locator('.week-day li').count()) >= 4, 'the room is booked that week');
    await checkAccessibility(page, "a room's week");
    await shot('06-room-week');
    await context.close();
  });
}

test('a counsellor sees their own day, not the front desk list', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  await context.route((url) => !url.href.startsWith(haven.url), (route) => route.abort());
  const page = await context.newPage();
  await signIn(page, 'clinician@demo.haven.example');
  await page.goto(`${haven.url}/appointments?date=${weekday(3)}`);
  assert.ok(await page.getByRole('heading', { name: 'My day' }).isVisible());
  assert.equal(await page.getByRole('button', { name: /Check in/ }).count(), 0);
  const withWhom = await page.locator('#agenda [data-label=With]').allInnerTexts();
  assert.ok(withWhom.length >= 4 && withWhom.every((w) => w.includes('Demo')), withWhom.join(' | '));
  await checkAccessibility(page, "a counsellor's day");
  await screenshot(page, 'mobile-appointments-06-my-day');

  // Their calendar feed: made here, fetched as a calendar app would.
  await page.getByRole('link', { name: 'Calendar feed' }).click();
  await page.getByRole('button', { name: 'Make my feed address' }).click();
  const url = await page.locator('#feed-url').inputValue();
  assert.match(url, /\/calendar\/[A-Za-z0-9_-]{43}\.ics$/);
  await checkAccessibility(page, 'the calendar feed page');
  await screenshot(page, 'mobile-appointments-07-calendar-feed');
  const feed = await page.request.get(`${haven.url}${new URL(url).pathname}`);
  assert.equal(feed.status(), 200);
  assert.match(await feed.text(), /BEGIN:VCALENDAR[\s\S]*SUMMARY:Client appointment/);
  await context.close();
});

/** The first Monday at least `days` days from today, as YYYY-MM-DD (UTC). */
function mondayAfter(days) {
  const day = new Date();
  day.setUTCDate(day.getUTCDate() + days);
  while (day.getUTCDay() !== 1) day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
}

const BOOKINGS = {
  mobile: { email: 'casemanager@demo.haven.example', date: mondayAfter(21), time: '15:00', moveTo: '12:30' },
  desktop: { email: 'clinician@demo.haven.example', date: mondayAfter(28), time: '08:00', moveTo: '07:00' },
};

for (const viewport of VIEWPORTS) {
  test(`book a weekly appointment from the chart and move one occurrence (${viewport.name})`, async () => {
    const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height } });
    await context.route((url) => !url.href.startsWith(haven.url), (route) => route.abort());
    const page = await context.newPage();
    const plan = BOOKINGS[viewport.name];
    const shot = (name) => screenshot(page, `${viewport.name}-booking-${name}`);

    await signIn(page, plan.email);
    await page.locator('#caseload-list a').first().click();
    await page.getByRole('link', { name: 'Appointments' }).last().click();
    await page.getByRole('link', { name: 'Book an appointment' }).click();
    assert.match(await page.locator('#f-clients').inputValue(), /^HV\d{7}$/, 'the client is filled in');
    await checkAccessibility(page, 'the booking form');

    // A mistake first: no service and no date.
    await page.getByRole('button', { name: 'Book' }).click();
    assert.ok(await page.locator('#error-summary').isVisible());
    assert.ok(await page.locator('#f-service_type-error').isVisible());
    await shot('01-errors');

    await page.fill('#f-service_type', 'Counselling');
    await page.fill('#f-date', plan.date);
    await page.fill('#f-time', plan.time);
    await page.selectOption('#f-repeat', 'weekly');
    await page.fill('#f-count', '4');
    await page.selectOption('#f-place', 'telehealth');
    await page.fill('#f-telehealth_url', 'https://video.demo.haven.example/room/7');
    await shot('02-filled');
    await page.getByRole('button', { name: 'Book' }).click();
    await page.waitForURL(/\/appointments\/[0-9a-f-]+\?done=1$/);
    assert.match(await page.locator('h1').innerText(), new RegExp(`${plan.time}–`));
    assert.ok(await page.getByText('part of a series').isVisible());
    await checkAccessibility(page, 'a booked appointment');
    await shot('03-booked');

    // Move this one occurrence only.
    await page.fill('#f-time', plan.moveTo);
    await page.selectOption('#f-scope', 'one');
    await page.getByRole('button', { name: 'Save the change' }).click();
    await page.waitForURL(/\?done=1$/);
    assert.match(await page.locator('h1').innerText(), new RegExp(`${plan.moveTo}–`));
    await shot('04-moved');

    // The next week keeps the series' time.
    await page.goto(`${haven.url}/appointments?date=${plan.date}`);
    const weekAfter = new Date(`${plan.date}T00:00:00Z`);
    weekAfter.setUTCDate(weekAfter.getUTCDate() + 7);
    await page.goto(`${haven.url}/appointments?date=${weekAfter.toISOString().slice(0, 10)}`);
    const times = await page.locator('#agenda [data-label=Time]').allInnerTexts();
    assert.ok(times.some((t) => t.startsWith(plan.time)), times.join(' | '));
    await checkAccessibility(page, 'the following week');
    await context.close();
  });
}
