import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const ARTIFACTS = join(import.meta.dirname, '../../../test-artifacts');

/** Debian's chromium, headless, quiet: no background traffic that could cross a test's proxy. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-quic', '--no-first-run',
    ],
  });
}

/** A fresh profile (empty localStorage) whose traffic — loopback included — goes through `proxy`. */
export async function newContext(browser: Browser, proxy?: string, viewport = { width: 1000, height: 900 }): Promise<BrowserContext> {
  // Playwright adds `<-loopback>` to the bypass list so 127.0.0.1 goes through the proxy too.
  return browser.newContext({ viewport, ...(proxy ? { proxy: { server: proxy } } : {}) });
}

export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/** Browser console errors, for the failure message of a test (net::ERR_* are expected during a cut). */
export function collectConsole(page: Page): string[] {
  const lines: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') lines.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
  return lines;
}
