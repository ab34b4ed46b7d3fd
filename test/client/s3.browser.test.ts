import { describe, expect, it } from 'vitest';
import { pairingEnv } from '../gateway/pairings.ts';
import { randomFile } from './support/files.ts';
import { useBrowserSuite } from './support/suite.ts';
import { addAndUpload, openWidget, settledOffset, trackTus, waitForServerOffset } from './support/widget-page.ts';

/**
 * The widget on the s3 datastore (incomplete uploads as S3 multipart uploads in Ceph RGW)
 * and the s3 Store: the chunk size comes from the server's part size, and an upload cut
 * mid-PATCH resumes from what S3 holds (whole parts plus @tus/s3-store's incomplete part).
 */
const MiB = 2 ** 20;
const t = useBrowserSuite(() => pairingEnv('s3+s3'));

describe('the widget on the s3 datastore, in Chromium', { timeout: 180_000 }, () => {
  it('sends whole S3 parts per PATCH and resumes a cut upload byte-exact', async () => {
    const page = await t.freshPage();
    const tus = trackTus(page);
    const file = await randomFile('s3-cut-40m.bin', 40 * MiB);
    const key = `models/anonymous/${file.name}`;
    await openWidget(page, `${t.gateway.url}/`);
    const config = await (await fetch(`${t.gateway.url}/api/config`)).json();
    expect(config).toMatchObject({ datastore: 's3', partSize: 8 * MiB });
    // Four 8 MiB parts a PATCH: no PATCH leaves an incomplete part behind while nothing fails.
    expect(await page.evaluate(() => (window as any).demo.uploader.uppy.getPlugin('Tus').opts.chunkSize)).toBe(32 * MiB);

    t.proxy.rate = 8 * MiB;
    await addAndUpload(page, file.path);
    await waitForServerOffset(t.gateway.url, () => tus.uploadUrl, 12 * MiB, 60_000);
    t.proxy.down = true;
    expect(t.proxy.cut()).toBeGreaterThan(0);
    const patchesBeforeCut = tus.patchOffsets.length;
    await new Promise((r) => setTimeout(r, 1000));
    const held = await settledOffset(t.gateway.url, tus.uploadUrl);
    t.proxy.down = false;

    await t.resultFor(key).waitFor({ timeout: 120_000 });
    expect(tus.posts).toBe(1);
    expect(tus.patchOffsets[patchesBeforeCut]).toBe(held);
    expect(held).toBeGreaterThan(0);
    await t.expectStoredExactly(key, file);
    expect(await t.resultFor(key).locator('.upw-hash').innerText()).toBe(file.sha256);
  });
});
