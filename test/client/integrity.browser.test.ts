import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchObjectSha256, randomFile } from './support/files.ts';
import { useBrowserSuite } from './support/suite.ts';
import { addAndUpload, openWidget, UPLOAD_BUTTON } from './support/widget-page.ts';

/**
 * Integrity in the widget, in headless Chromium against a real gateway: an
 * Upload-Checksum on every PATCH (a chunk damaged on the way — by the SOCKS proxy the
 * browser goes through — is refused with 460 and sent again), and with `verify: true`
 * the whole file's sha256 declared before the upload; a wrong one is shown as an error.
 */
const MiB = 2 ** 20;
const t = useBrowserSuite();

let site: Server;
let origin: string;

beforeAll(async () => {
  site = createServer((_req, res) => {
    const gw = t.gateway.url;
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Verified uploads</title></head><body>
<div id="upload"></div>
<script src="${gw}/widget/widget.js"></script>
<script>
  window.verifying = [];
  window.demo = UploadWidget.mount('#upload', { apiBase: '${gw}', owner: 'verified', verify: true, chunkSize: ${MiB}, retryDelays: [0, 200, 500],
    onComplete: function (r) { window.completed = r; }, onError: function (f) { window.failed = f; } });
  window.demo.uploader.uppy.on('preprocess-progress', function (_f, p) { window.verifying.push(p.message + ' ' + Math.round(p.value * 100)); });
</script></body></html>`);
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
});

afterAll(async () => {
  if (!site) return;
  site.closeAllConnections();
  await new Promise((r) => site.close(r));
});

describe('integrity in the widget, in Chromium', { timeout: 120_000 }, () => {
  it('checksums every PATCH, resends chunks damaged on the way, declares the verified sha256 and ends byte-exact', async () => {
    const page = await t.freshPage();
    const file = await randomFile('verified.onnx', 4 * MiB + 777);
    const data = await readFile(file.path);
    const patches: Array<{ offset: number; checksum: string | undefined }> = [];
    const statuses: number[] = [];
    let metadata = '';
    page.on('request', (r) => {
      if (!new URL(r.url()).pathname.startsWith('/files')) return;
      if (r.method() === 'POST') metadata = r.headers()['upload-metadata'] ?? '';
      if (r.method() === 'PATCH') patches.push({ offset: Number(r.headers()['upload-offset']), checksum: r.headers()['upload-checksum'] });
    });
    page.on('response', (r) => {
      if (r.request().method() === 'PATCH') statuses.push(r.status());
    });
    await openWidget(page, `${origin}/`);
    // The first two large pieces of request body the browser sends each lose a bit on the way.
    t.proxy.flipBytes = 2;
    await addAndUpload(page, file.path);
    await page.waitForFunction(() => (window as any).completed, undefined, { timeout: 90_000 });
    const [result] = await page.evaluate(() => (window as any).completed);
    expect(result).toMatchObject({ key: 'models/verified/verified.onnx', sha256: file.sha256, size: file.size });
    await t.expectStoredExactly(result.key, file);

    // "Verifying" ran to 100% before the upload, and its digest went out as `sha256` metadata.
    const verifying: string[] = await page.evaluate(() => (window as any).verifying);
    expect(verifying.at(-1)).toBe('Verifying… 100');
    const declared = Object.fromEntries(metadata.split(',').map((p) => p.split(' ')).map(([k, v]) => [k, Buffer.from(v ?? '', 'base64').toString()]));
    expect(declared.sha256).toBe(file.sha256);

    // The damaged chunks were refused and sent again; every PATCH said what its bytes hash to.
    expect(statuses.filter((s) => s === 460).length).toBeGreaterThanOrEqual(1);
    expect(statuses.at(-1)).toBe(204);
    for (const p of patches) {
      const slice = data.subarray(p.offset, Math.min(data.length, p.offset + MiB));
      expect(p.checksum).toBe(`sha256 ${createHash('sha256').update(slice).digest('base64')}`);
    }
    expect(new Set(patches.map((p) => p.offset)).size).toBe(Math.ceil(file.size / MiB));
  });

  it('shows a clear error when the file is not the one declared, and stores nothing', async () => {
    const page = await t.freshPage();
    let refusals = 0;
    page.on('response', (r) => {
      if (r.status() === 460) refusals++;
    });
    await openWidget(page, `${origin}/`);
    const wrong = '0'.repeat(64);
    await page.evaluate(
      ({ wrong }) => {
        const bytes = new Uint8Array(2 * 1024 * 1024 + 5).map((_, i) => (i * 13) % 251);
        (window as any).demo.uploader.uppy.addFile({ name: 'declared-wrong.bin', type: 'application/octet-stream', data: new Blob([bytes]), meta: { sha256: wrong } });
      },
      { wrong },
    );
    await page.click(UPLOAD_BUTTON);
    await page.waitForFunction(() => (window as any).failed, undefined, { timeout: 60_000 });
    const failure = await page.evaluate(() => (window as any).failed);
    expect(failure.status).toBe(460);
    expect(failure.message).toContain('did not arrive intact');
    // The widget shows it, and the Dashboard marks the file as failed.
    await expect.poll(() => page.locator('.upw-alert').innerText()).toMatch(/^“declared-wrong\.bin” did not arrive intact: its sha256 does not match/);
    expect(await page.locator('.uppy-Dashboard-Item.is-error', { hasText: 'declared-wrong.bin' }).count()).toBe(1);
    // It was not sent again and again: one final PATCH was refused, once.
    expect(refusals).toBe(1);
    expect((await fetchObjectSha256(t.gateway.url, 'models/verified/declared-wrong.bin')).status).toBe(404);
  });

  it('uploads a real file from the file input with verify on as well', async () => {
    const page = await t.freshPage();
    const file = await randomFile('plain-verified.bin', MiB + 3);
    await openWidget(page, `${origin}/`);
    await addAndUpload(page, file.path);
    await page.waitForFunction(() => (window as any).completed, undefined, { timeout: 60_000 });
    await t.expectStoredExactly('models/verified/plain-verified.bin', file);
  });
});
