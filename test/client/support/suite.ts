import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { RunningGateway } from '../../../server/main.ts';
import { collectConsole, launchChromium, newContext, screenshot } from './browser.ts';
import { ensureWidgetBuilt } from './build.ts';
import { fetchObjectSha256, type TestFile } from './files.ts';
import { startSocksProxy, type SocksProxy } from './socks-proxy.ts';
import { startWidgetGateway } from './widget-page.ts';

/** What a browser test file shares: one gateway and one Chromium; a fresh context (profile) and proxy per test. */
export interface BrowserSuite {
  gateway: RunningGateway;
  browser: Browser;
  proxy: SocksProxy;
  context: BrowserContext;
  page: Page;
  /** A new profile (empty localStorage) behind a new SOCKS proxy, and a page in it. */
  freshPage(viewport?: { width: number; height: number }): Promise<Page>;
  /** The widget's entry for a finished upload of `key`. */
  resultFor(key: string): ReturnType<Page['locator']>;
  /** Errors and warnings the page logged so far (console and uncaught exceptions). */
  consoleLines(): string[];
  /** GETs the stored object and compares it byte for byte (by sha256 and size) with `file`. */
  expectStoredExactly(key: string, file: TestFile): Promise<void>;
}

/** Registers the hooks of a browser test file; `gatewayEnv` selects e.g. the s3 datastore. */
export function useBrowserSuite(gatewayEnv: () => Promise<Record<string, string>> = async () => ({})): BrowserSuite {
  let consoleLines: string[] = [];
  const suite = {
    async freshPage(viewport) {
      suite.proxy = await startSocksProxy();
      suite.context = await newContext(suite.browser, suite.proxy.url, viewport);
      suite.page = await suite.context.newPage();
      consoleLines = collectConsole(suite.page);
      return suite.page;
    },
    resultFor: (key) => suite.page.locator(`.upw-result[data-key="${key}"]`),
    consoleLines: () => [...consoleLines],
    async expectStoredExactly(key, file) {
      expect(await fetchObjectSha256(suite.gateway.url, key)).toEqual({ status: 200, size: file.size, sha256: file.sha256 });
    },
  } as BrowserSuite;

  beforeAll(async () => {
    ensureWidgetBuilt();
    const env = await gatewayEnv();
    [suite.gateway, suite.browser] = await Promise.all([startWidgetGateway('', env), launchChromium()]);
  }, 180_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail' && suite.page) {
      await screenshot(suite.page, `failed-${ctx.task.name.replace(/\W+/g, '-')}`).catch(() => undefined);
      console.error(`browser console of "${ctx.task.name}":\n${consoleLines.join('\n')}`);
    }
    await suite.context?.close();
    await suite.proxy?.close();
  });

  afterAll(async () => {
    await suite.browser?.close();
    await suite.gateway?.close();
  });

  return suite;
}
