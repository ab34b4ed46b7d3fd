import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../../server/main.ts';
import { collectConsole, launchChromium, newContext, screenshot } from './support/browser.ts';
import { ensureWidgetBuilt } from './support/build.ts';
import { fetchObjectSha256, randomFile, type TestFile } from './support/files.ts';
import { startSocksProxy, type SocksProxy } from './support/socks-proxy.ts';
import {
  addAndUpload, FILE_INPUT, openWidget, settledOffset, startWidgetGateway, trackTus, UPLOAD_BUTTON, uploadStatus, waitForProgress, waitForServerOffset,
} from './support/widget-page.ts';

const MiB = 2 ** 20;
// A loopback upload at this rate lasts ~5 s for 40 MiB: long enough to cut or reload in the middle.
const SLOW_LINK = 8 * MiB;

let gateway: RunningGateway;
/** A plain site of another origin that embeds the widget: `/` mounts it, `/blank` is an empty page. */
let partnerSite: Server;
let partnerOrigin: string;
let browser: Browser;
let proxy: SocksProxy;
let context: BrowserContext;
let page: Page;
let consoleLines: string[];

const resultFor = (key: string) => page.locator(`.upw-result[data-key="${key}"]`);

beforeAll(async () => {
  ensureWidgetBuilt();
  [gateway, browser] = await Promise.all([startWidgetGateway(), launchChromium()]);
  const embed = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partner site</title></head><body>
<h1>Partner site</h1><div id="upload"></div>
<script src="${gateway.url}/widget/widget.js"></script>
<script>window.demo = UploadWidget.mount('#upload', { apiBase: '${gateway.url}', owner: 'partner', onComplete: function (r) { window.completed = r; } });</script>
</body></html>`;
  partnerSite = createServer((req, res) =>
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(req.url === '/blank' ? '<!doctype html><title>blank</title>' : embed),
  );
  await new Promise<void>((r) => partnerSite.listen(0, '127.0.0.1', r));
  partnerOrigin = `http://127.0.0.1:${(partnerSite.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  partnerSite?.closeAllConnections();
  await new Promise((r) => partnerSite?.close(r));
});

async function freshPage(viewport?: { width: number; height: number }): Promise<void> {
  proxy = await startSocksProxy();
  context = await newContext(browser, proxy.url, viewport);
  page = await context.newPage();
  consoleLines = collectConsole(page);
}

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && page) {
    await screenshot(page, `failed-${ctx.task.name.replace(/\W+/g, '-')}`).catch(() => undefined);
    console.error(`browser console of "${ctx.task.name}":\n${consoleLines.join('\n')}`);
  }
  await context?.close();
  await proxy?.close();
});

async function expectStoredExactly(key: string, file: TestFile): Promise<void> {
  const stored = await fetchObjectSha256(gateway.url, key);
  expect(stored).toEqual({ status: 200, size: file.size, sha256: file.sha256 });
}

describe('the upload widget in Chromium', { timeout: 180_000 }, () => {
  it('uploads a 40 MiB file and shows its key, download link and sha256; the stored object is byte-exact', async () => {
    await freshPage();
    const file = await randomFile('llama-40m.safetensors', 40 * MiB);
    const key = `models/anonymous/${file.name}`;
    await openWidget(page, `${gateway.url}/`);
    await screenshot(page, 'widget-idle');

    proxy.rate = 16 * MiB; // slow enough to photograph the progress bar
    await addAndUpload(page, file.path);
    await waitForProgress(page, 30);
    await expect.poll(() => page.locator('.upw-progress').innerText()).toMatch(/^\d+(\.\d)? MiB of 40 MiB · [\d.]+ MiB\/s · \d+ s left$/);
    await screenshot(page, 'widget-uploading');

    await resultFor(key).waitFor({ timeout: 60_000 });
    const result = resultFor(key);
    expect(await result.locator('.upw-key').innerText()).toBe(key);
    expect(await result.locator('.upw-hash').innerText()).toBe(file.sha256);
    const href = await result.locator('a[download]').getAttribute('href');
    expect(href).toBe(`${gateway.url}/api/objects/models/anonymous/llama-40m.safetensors`);
    await expectStoredExactly(key, file);
    // The demo's model list refreshes after the upload and links the new model.
    await page.locator(`#models tr[data-key="${key}"] a[download]`).waitFor();
    await screenshot(page, 'widget-finished');

    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'widget-phone');
  });

  it('resumes after the connection drops mid-PATCH and finishes from the server offset', async () => {
    await freshPage();
    const tus = trackTus(page);
    const file = await randomFile('cut-40m.bin', 40 * MiB);
    const key = `models/anonymous/${file.name}`;
    await openWidget(page, `${gateway.url}/`);
    proxy.rate = SLOW_LINK;
    await addAndUpload(page, file.path);

    const before = await waitForServerOffset(gateway.url, () => tus.uploadUrl, 12 * MiB);
    proxy.down = true;
    expect(proxy.cut()).toBeGreaterThan(0); // the PATCH in flight dies mid-body
    const patchesBeforeCut = tus.patchOffsets.length;
    await new Promise((r) => setTimeout(r, 500));
    const atCut = await settledOffset(gateway.url, tus.uploadUrl);
    // Retries meet refused connections meanwhile; the widget says it is waiting, not failing.
    await expect.poll(() => page.locator('.upw-progress').innerText(), { timeout: 8000 }).toMatch(/waiting for the connection/);
    await screenshot(page, 'widget-connection-lost');
    const heldDuringOutage = (await uploadStatus(gateway.url, tus.uploadUrl)).offset;
    expect(heldDuringOutage).toBe(atCut); // nothing got through: the network really was gone
    expect(heldDuringOutage).toBeGreaterThanOrEqual(before);
    proxy.down = false;

    await resultFor(key).waitFor({ timeout: 90_000 });
    expect(tus.posts).toBe(1); // the same upload throughout: never created again
    const resumedAt = tus.patchOffsets.slice(patchesBeforeCut);
    expect(resumedAt.length).toBeGreaterThan(0);
    expect(resumedAt[0]).toBe(heldDuringOutage); // continued from what the server had, not from zero
    expect(await page.locator('.upw-alert').isHidden()).toBe(true);
    await expectStoredExactly(key, file);
  });

  it('continues from the server offset after a page reload when the same file is added again', async () => {
    await freshPage();
    const tus = trackTus(page);
    const file = await randomFile('reload-40m.bin', 40 * MiB);
    const key = `models/anonymous/${file.name}`;
    await openWidget(page, `${gateway.url}/`);
    proxy.rate = SLOW_LINK;
    await addAndUpload(page, file.path);
    await waitForServerOffset(gateway.url, () => tus.uploadUrl, 12 * MiB);

    await page.reload();
    const offset = await settledOffset(gateway.url, tus.uploadUrl);
    expect(offset).toBeGreaterThanOrEqual(12 * MiB);
    expect(offset).toBeLessThan(file.size);
    // The widget remembers the unfinished upload and says how to continue it.
    const hint = page.locator('.upw-interrupted li', { hasText: file.name });
    await hint.waitFor();
    expect(await hint.innerText()).toMatch(/on the server/);
    await screenshot(page, 'widget-unfinished');

    proxy.rate = 0;
    const patchesBeforeResume = tus.patchOffsets.length;
    await addAndUpload(page, file.path);
    await resultFor(key).waitFor({ timeout: 60_000 });
    expect(tus.posts).toBe(1);
    expect(tus.headOffsets.at(-1)).toBe(offset);
    expect(tus.patchOffsets[patchesBeforeResume]).toBe(offset);
    await expectStoredExactly(key, file);
  });

  it('works embedded in a plain page of another origin (CORS), with the key read from Object-Key', async () => {
    await freshPage();
    const tus = trackTus(page);
    const file = await randomFile('embedded.onnx', 3 * MiB + 17);
    await openWidget(page, `${partnerOrigin}/`);
    // The widget added its own stylesheet from the gateway.
    expect(await page.locator(`link[rel="stylesheet"][href="${gateway.url}/widget/widget.css"]`).count()).toBe(1);
    await addAndUpload(page, file.path);
    await page.waitForFunction(() => (window as any).completed, undefined, { timeout: 60_000 });
    const [result] = await page.evaluate(() => (window as any).completed);
    expect(result).toMatchObject({ key: 'models/partner/embedded.onnx', sha256: file.sha256, size: file.size, fileName: file.name });
    expect(tus.lastPatchHeaders['access-control-expose-headers']).toMatch(/Object-Key/i);
    expect(tus.lastPatchHeaders['object-key']).toBe('models/partner/embedded.onnx');
    await expectStoredExactly(result.key, file);
  });

  it('offers createUploader() as an ES module for bundler users: no UI, typed results, bad options fail at once', async () => {
    await freshPage();
    await page.goto(`${partnerOrigin}/blank`);
    const size = MiB + 3;
    const outcome = await page.evaluate(
      async ({ gw, size }) => {
        // A literal import() here would be rewritten by vitest's transform before Playwright serializes the function.
        const load = new Function('url', 'return import(url)') as (url: string) => Promise<any>;
        const { createUploader } = await load(`${gw}/widget/widget.mjs`);
        let badOption = '';
        try {
          createUploader({ apiBase: gw, maxFileSize: -1 });
        } catch (err) {
          badOption = `${(err as Error).name}: ${(err as Error).message}`;
        }
        const uploader = createUploader({ apiBase: gw, owner: 'esm' });
        const server = await uploader.ready();
        const bytes = new Uint8Array(size).map((_, i) => (i * 7) % 251);
        uploader.uppy.addFile({ name: 'headless.bin', type: 'application/octet-stream', data: new Blob([bytes]) });
        const done = new Promise((resolve) => uploader.subscribe((e: any) => e.type === 'complete' && resolve(e.results)));
        await uploader.uppy.upload();
        return { badOption, server, results: await done };
      },
      { gw: gateway.url, size },
    );
    expect(outcome.badOption).toBe('UploadWidgetOptionsError: UploadWidget: maxFileSize must be a positive integer (bytes), got -1');
    expect(outcome.server).toEqual({ tusEndpoint: `${gateway.url}/files/`, maxSize: 20 * 2 ** 30, partSize: 8 * MiB, datastore: 'file' });
    const expected = Buffer.from(new Uint8Array(size).map((_, i) => (i * 7) % 251));
    expect(outcome.results).toEqual([
      expect.objectContaining({ key: 'models/esm/headless.bin', size, sha256: createHash('sha256').update(expected).digest('hex') }),
    ]);
  });

  it('starts once the gateway answers when it was unreachable as the page loaded', async () => {
    await freshPage();
    let configReads = 0;
    await page.route('**/api/config', (route) => (configReads++ === 0 ? route.abort('connectionrefused') : route.continue()));
    const file = await randomFile('late-server.bin', MiB);
    await page.goto(`${gateway.url}/`);
    await expect.poll(() => page.locator('.upw-alert').innerText()).toMatch(/^Cannot reach the upload server at .*Click Upload to try again\.$/);
    await addAndUpload(page, file.path);
    await resultFor(`models/anonymous/${file.name}`).waitFor();
    expect(configReads).toBe(2);
    expect(await page.locator('.upw-alert').isHidden()).toBe(true);
  });

  it('can be used with the keyboard alone, and every control has a name', async () => {
    await freshPage();
    const file = await randomFile('keyboard.bin', 1 * MiB);
    await openWidget(page, `${gateway.url}/`);
    const unnamed = await page.locator('main :is(button, a[href], input:not([type=file]))').evaluateAll((els) =>
      els
        .filter((el) => (el as HTMLElement).offsetParent !== null)
        .filter((el) => !((el.textContent ?? '').trim() || el.getAttribute('aria-label') || (el as HTMLInputElement).labels?.length))
        .map((el) => el.outerHTML.slice(0, 120)),
    );
    expect(unnamed).toEqual([]);

    const tabTo = async (selector: string) => {
      for (let i = 0; i < 30; i++) {
        await page.keyboard.press('Tab');
        if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
      }
      throw new Error(`Tab never reached ${selector}`);
    };
    // Listen first: Playwright turns on file-chooser interception when the first listener comes, asynchronously.
    const chooser = page.waitForEvent('filechooser');
    await tabTo('.uppy-Dashboard-browse');
    await page.keyboard.press('Enter');
    await (await chooser).setFiles(file.path);
    await tabTo(UPLOAD_BUTTON);
    await page.keyboard.press('Enter');
    await resultFor(`models/anonymous/${file.name}`).waitFor();
    await tabTo(`.upw-result[data-key="models/anonymous/${file.name}"] a[download]`);
  });

  it('says clearly when the server refuses a file as too large (413)', async () => {
    const small = await startWidgetGateway('maxSize: 1MiB');
    try {
      await freshPage();
      // The page loaded while the limit was larger (1 GiB); then the server's limit shrank to 1 MiB.
      // Only the server's 413 can stop the file now, and the widget re-reads the limit to explain it.
      let configReads = 0;
      await page.route('**/api/config', async (route) => {
        const real = await route.fetch();
        const json = await real.json();
        await route.fulfill({ response: real, json: configReads++ === 0 ? { ...json, maxSize: 1024 * MiB } : json });
      });
      const file = await randomFile('too-big.bin', 2 * MiB);
      await openWidget(page, `${small.url}/`);
      await page.setInputFiles(FILE_INPUT, file.path);
      await page.click(UPLOAD_BUTTON);
      const alert = page.locator('.upw-alert');
      await expect.poll(() => alert.innerText(), { timeout: 30_000 }).toMatch(
        /^“too-big\.bin” is larger than this server accepts \(at most 1\.0 MiB\)\./,
      );
      await screenshot(page, 'widget-too-large');
    } finally {
      await small.close();
    }
  });
});
