import { describe, expect, it } from 'vitest';
import { screenshot } from './support/browser.ts';
import { randomFile } from './support/files.ts';
import { useBrowserSuite } from './support/suite.ts';
import { addAndUpload, openWidget, settledOffset, trackTus, uploadStatus, waitForProgress, waitForServerOffset } from './support/widget-page.ts';

/**
 * The widget in headless Chromium against a real gateway (file datastore, localfs Store):
 * a whole upload, a network cut mid-PATCH, a page reload mid-upload. Offsets are read
 * with GET /api/uploads/{id}, never HEAD (HEAD takes the tus lock, docs/tus-server-notes.md #12).
 */
const MiB = 2 ** 20;
// A loopback upload at this rate lasts ~5 s for 40 MiB: long enough to cut or reload in the middle.
const SLOW_LINK = 8 * MiB;

const t = useBrowserSuite();

describe('uploading and resuming in Chromium', { timeout: 180_000 }, () => {
  it('uploads a 40 MiB file and shows its key, download link and sha256; the stored object is byte-exact', async () => {
    const page = await t.freshPage();
    const file = await randomFile('llama-40m.safetensors', 40 * MiB);
    const key = `models/anonymous/${file.name}`;
    await openWidget(page, `${t.gateway.url}/`);
    await screenshot(page, 'widget-idle');

    t.proxy.rate = 16 * MiB; // slow enough to photograph the progress bar
    await addAndUpload(page, file.path);
    await waitForProgress(page, 30);
    await expect.poll(() => page.locator('.upw-progress').innerText()).toMatch(/^\d+(\.\d)? MiB of 40 MiB · [\d.]+ MiB\/s · \d+ s left$/);
    await screenshot(page, 'widget-uploading');

    await t.resultFor(key).waitFor({ timeout: 60_000 });
    const result = t.resultFor(key);
    expect(await result.locator('.upw-key').innerText()).toBe(key);
    expect(await result.locator('.upw-hash').innerText()).toBe(file.sha256);
    const href = await result.locator('a[download]').getAttribute('href');
    expect(href).toBe(`${t.gateway.url}/api/objects/models/anonymous/llama-40m.safetensors`);
    await t.expectStoredExactly(key, file);
    // The demo's model list refreshes after the upload and links the new model.
    await page.locator(`#models tr[data-key="${key}"] a[download]`).waitFor();
    await screenshot(page, 'widget-finished');

    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'widget-phone');
  });

  it('resumes after the connection drops mid-PATCH and finishes from the server offset', async () => {
    const page = await t.freshPage();
    const tus = trackTus(page);
    const file = await randomFile('cut-40m.bin', 40 * MiB);
    const key = `models/anonymous/${file.name}`;
    await openWidget(page, `${t.gateway.url}/`);
    t.proxy.rate = SLOW_LINK;
    await addAndUpload(page, file.path);

    const before = await waitForServerOffset(t.gateway.url, () => tus.uploadUrl, 12 * MiB);
    t.proxy.down = true;
    expect(t.proxy.cut()).toBeGreaterThan(0); // the PATCH in flight dies mid-body
    const patchesBeforeCut = tus.patchOffsets.length;
    await new Promise((r) => setTimeout(r, 500));
    const atCut = await settledOffset(t.gateway.url, tus.uploadUrl);
    // Retries meet refused connections meanwhile; the widget says it is waiting, not failing.
    await expect.poll(() => page.locator('.upw-progress').innerText(), { timeout: 8000 }).toMatch(/waiting for the connection/);
    await screenshot(page, 'widget-connection-lost');
    const heldDuringOutage = (await uploadStatus(t.gateway.url, tus.uploadUrl)).offset;
    expect(heldDuringOutage).toBe(atCut); // nothing got through: the network really was gone
    expect(heldDuringOutage).toBeGreaterThanOrEqual(before);
    t.proxy.down = false;

    await t.resultFor(key).waitFor({ timeout: 90_000 });
    expect(tus.posts).toBe(1); // the same upload throughout: never created again
    const resumedAt = tus.patchOffsets.slice(patchesBeforeCut);
    expect(resumedAt.length).toBeGreaterThan(0);
    expect(resumedAt[0]).toBe(heldDuringOutage); // continued from what the server had, not from zero
    expect(await page.locator('.upw-alert').isHidden()).toBe(true);
    await t.expectStoredExactly(key, file);
  });

  it('continues from the server offset after a page reload when the same file is added again', async () => {
    const page = await t.freshPage();
    const tus = trackTus(page);
    const file = await randomFile('reload-40m.bin', 40 * MiB);
    const key = `models/anonymous/${file.name}`;
    await openWidget(page, `${t.gateway.url}/`);
    t.proxy.rate = SLOW_LINK;
    await addAndUpload(page, file.path);
    await waitForServerOffset(t.gateway.url, () => tus.uploadUrl, 12 * MiB);

    await page.reload();
    const offset = await settledOffset(t.gateway.url, tus.uploadUrl);
    expect(offset).toBeGreaterThanOrEqual(12 * MiB);
    expect(offset).toBeLessThan(file.size);
    // The widget remembers the unfinished upload and says how to continue it.
    const hint = page.locator('.upw-interrupted li', { hasText: file.name });
    await hint.waitFor();
    expect(await hint.innerText()).toMatch(/on the server/);
    await screenshot(page, 'widget-unfinished');

    t.proxy.rate = 0;
    const patchesBeforeResume = tus.patchOffsets.length;
    await addAndUpload(page, file.path);
    await t.resultFor(key).waitFor({ timeout: 60_000 });
    expect(tus.posts).toBe(1);
    expect(tus.headOffsets.at(-1)).toBe(offset);
    expect(tus.patchOffsets[patchesBeforeResume]).toBe(offset);
    await t.expectStoredExactly(key, file);
  });

  it('lets the user discard an unfinished upload after a reload: the server frees it (tus termination)', async () => {
    const page = await t.freshPage();
    const tus = trackTus(page);
    const file = await randomFile('discard-40m.bin', 40 * MiB);
    await openWidget(page, `${t.gateway.url}/`);
    t.proxy.rate = SLOW_LINK;
    await addAndUpload(page, file.path);
    await waitForServerOffset(t.gateway.url, () => tus.uploadUrl, 4 * MiB);
    await page.reload();
    const deleted = page.waitForResponse((r) => r.request().method() === 'DELETE');
    await page.getByRole('button', { name: `Discard the unfinished upload of ${file.name}` }).click();
    expect((await deleted).status()).toBe(204);
    expect(await page.locator('.upw-interrupted').isHidden()).toBe(true);
    expect(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('tus::')))).toEqual([]);
    // HEAD is safe here (no PATCH left to disturb). Not /api/uploads: it still answers 200 "uploading" after a DELETE.
    const head = await fetch(tus.uploadUrl, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } });
    expect(head.status).toBe(404);
  });
});
