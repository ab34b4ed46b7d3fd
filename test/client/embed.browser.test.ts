import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from './support/browser.ts';
import { randomFile } from './support/files.ts';
import { useBrowserSuite } from './support/suite.ts';
import { addAndUpload, FILE_INPUT, openWidget, startWidgetGateway, trackTus, UPLOAD_BUTTON } from './support/widget-page.ts';

/** Embedding (another origin, CORS), the ES module API, failure messages and keyboard use, in headless Chromium. */
const MiB = 2 ** 20;
const t = useBrowserSuite();

/** A plain site of another origin that embeds the widget: `/` mounts it, `/blank` is an empty page. */
let partnerSite: Server;
let partnerOrigin: string;

beforeAll(async () => {
  partnerSite = createServer((req, res) => {
    const gw = t.gateway.url;
    const embed = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partner site</title></head><body>
<h1>Partner site</h1><div id="upload"></div>
<script src="${gw}/widget/widget.js"></script>
<script>window.demo = UploadWidget.mount('#upload', { apiBase: '${gw}', owner: 'partner', onComplete: function (r) { window.completed = r; } });</script>
</body></html>`;
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(req.url === '/blank' ? '<!doctype html><title>blank</title>' : embed);
  });
  await new Promise<void>((r) => partnerSite.listen(0, '127.0.0.1', r));
  partnerOrigin = `http://127.0.0.1:${(partnerSite.address() as AddressInfo).port}`;
});

afterAll(async () => {
  partnerSite?.closeAllConnections();
  await new Promise((r) => partnerSite?.close(r));
});

describe('the widget embedded, scripted and refused, in Chromium', { timeout: 120_000 }, () => {
  it('works embedded in a plain page of another origin (CORS), with the key read from Object-Key', async () => {
    const page = await t.freshPage();
    const tus = trackTus(page);
    const file = await randomFile('embedded.onnx', 3 * MiB + 17);
    await openWidget(page, `${partnerOrigin}/`);
    // The widget added its own stylesheet from the gateway.
    expect(await page.locator(`link[rel="stylesheet"][href="${t.gateway.url}/widget/widget.css"]`).count()).toBe(1);
    await addAndUpload(page, file.path);
    await page.waitForFunction(() => (window as any).completed, undefined, { timeout: 60_000 });
    const [result] = await page.evaluate(() => (window as any).completed);
    expect(result).toMatchObject({ key: 'models/partner/embedded.onnx', sha256: file.sha256, size: file.size, fileName: file.name });
    expect(tus.lastPatchHeaders['access-control-expose-headers']).toMatch(/Object-Key/i);
    expect(tus.lastPatchHeaders['object-key']).toBe('models/partner/embedded.onnx');
    expect(t.consoleLines()).toEqual([]); // no request of the widget was blocked by CORS
    await t.expectStoredExactly(result.key, file);
  });

  it('offers createUploader() as an ES module for bundler users: no UI, typed results, bad options fail at once', async () => {
    const page = await t.freshPage();
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
      { gw: t.gateway.url, size },
    );
    expect(outcome.badOption).toBe('UploadWidgetOptionsError: UploadWidget: maxFileSize must be a positive integer (bytes), got -1');
    expect(outcome.server).toEqual({ tusEndpoint: `${t.gateway.url}/files/`, maxSize: 20 * 2 ** 30, partSize: 8 * MiB, datastore: 'file' });
    const expected = Buffer.from(new Uint8Array(size).map((_, i) => (i * 7) % 251));
    expect(outcome.results).toEqual([
      expect.objectContaining({ key: 'models/esm/headless.bin', size, sha256: createHash('sha256').update(expected).digest('hex') }),
    ]);
  });

  it('starts once the gateway answers when it was unreachable as the page loaded', async () => {
    const page = await t.freshPage();
    let configReads = 0;
    await page.route('**/api/config', (route) => (configReads++ === 0 ? route.abort('connectionrefused') : route.continue()));
    const file = await randomFile('late-server.bin', MiB);
    await page.goto(`${t.gateway.url}/`);
    await expect.poll(() => page.locator('.upw-alert').innerText()).toMatch(/^Cannot reach the upload server at .*Click Upload to try again\.$/);
    await addAndUpload(page, file.path);
    await t.resultFor(`models/anonymous/${file.name}`).waitFor();
    expect(configReads).toBe(2);
    expect(await page.locator('.upw-alert').isHidden()).toBe(true);
  });

  it('can be used with the keyboard alone, and every control has a name', async () => {
    const page = await t.freshPage();
    const file = await randomFile('keyboard.bin', 1 * MiB);
    await openWidget(page, `${t.gateway.url}/`);
    expect(t.consoleLines()).toEqual([]); // the demo page loads clean (no 404, no invalid pattern)
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
    await t.resultFor(`models/anonymous/${file.name}`).waitFor();
    await tabTo(`.upw-result[data-key="models/anonymous/${file.name}"] a[download]`);
  });

  it('says clearly when the server refuses a file as too large (413)', async () => {
    const small = await startWidgetGateway('maxSize: 1MiB');
    try {
      const page = await t.freshPage();
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
