// Shared by the browser tests: start Haven on a private data directory, drive Debian's
// Chromium with playwright-core, check accessibility with axe, keep screenshots.
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = join(here, 'artifacts');
export const DEMO_PASSWORD = 'demo lantern orbit velvet';
export const VIEWPORTS = [
  { name: 'mobile', width: 390, height: 844 },
  { name: 'desktop', width: 1280, height: 800 },
];

/** Starts `haven serve --demo` on a fresh data directory; resolves with its URL. */
export async function startHaven() {
  const bin = process.env.HAVEN_BIN ?? join(here, '..', '..', 'target', 'debug', 'haven');
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-browser-'));
  // When Haven runs as root its private PostgreSQL runs as `postgres`, which must pass through.
  chmodSync(dataDir, 0o755);
  const child = spawn(bin, ['serve', '--demo', '--listen', '127.0.0.1:0', '--data-dir', join(dataDir, 'data')], {
    env: { PATH: process.env.PATH, HAVEN_ADMIN_LISTEN: 'off' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`haven not ready: ${seen}`)), 90_000);
    child.stderr.on('data', (chunk) => {
      seen += chunk;
      const match = seen.match(/Haven is ready at (\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1].replace(/\/$/, ''));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`haven exited (${code}): ${seen}`));
    });
  });
  return {
    url,
    async stop() {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--headless=new', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync',
    ],
  });
}

/** No serious or critical accessibility violation on the page as it is now. */
export async function checkAccessibility(page, what) {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
    [],
    `accessibility of ${what}`,
  );
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** A TOTP code from an independent implementation (pyotp) for `at` (seconds). */
export function totp(secret, at = Date.now() / 1000) {
  return execFileSync('python3', ['-c', 'import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).at(int(float(sys.argv[2]))))', secret, String(at)])
    .toString()
    .trim();
}

/** Signs in on the sign-in page (the demo password unless given) and asserts that it
 * worked: the home page, with the person's "Sign out" button. */
export async function signInAs(page, baseUrl, email, password = DEMO_PASSWORD) {
  await page.goto(`${baseUrl}/sign-in`);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('main button[type=submit]');
  await page.waitForURL(`${baseUrl}/`);
  const signOut = await page.getByRole('button', { name: 'Sign out' }).count();
  if (signOut === 0) throw new Error(`${email} is not signed in`);
}
