/**
 * The objects API and presign over the s3 backend, on the real Ceph RGW that the vitest
 * globalSetup starts (test/support/services.ts). Presigned URLs go to RGW directly.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createStore } from '../../server/storage/index.ts';
import { encodeKeyPath } from '../../server/storage/keys.ts';
import { createTestBucket, s3TestSettings } from '../support/services.ts';
import { startApp, type AppFixture } from '../support/app.ts';
import { errorOf } from '../support/http.ts';
import { useStarted } from '../support/use.ts';
import { describeObjectsApi } from './objects.suite.ts';

async function startS3Gateway(bucketName: string): Promise<AppFixture> {
  const s3 = s3TestSettings();
  return startApp({
    env: {
      STORAGE_BACKEND: 's3',
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: await createTestBucket(bucketName),
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
      S3_REGION: s3.region,
    },
    makeStore: (config) => createStore(config),
  });
}

/** fetch sets Content-Length from the body itself. */
const withoutLength = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).filter(([h]) => h !== 'Content-Length'));

describeObjectsApi('s3 on Ceph RGW', () => startS3Gateway('gw-http-objects'), { localfs: false });

describe('POST /api/presign (s3 on Ceph RGW)', { timeout: 60_000 }, () => {
  const gw = useStarted('startS3Gateway', () => startS3Gateway('gw-http-presign'));
  const presign = async (key: string, method: 'GET' | 'PUT', expiresIn = 600) => {
    const res = await fetch(gw.url('/api/presign'), { method: 'POST', body: JSON.stringify({ key, method, expiresIn }) });
    expect(res.status).toBe(200);
    return (await res.json()) as { url: string; method: string; expiresAt: string };
  };

  it('gives a SigV4 GET URL on the S3 endpoint that downloads the object, with Range', async () => {
    const key = 'models/erin/ünï model.bin';
    const data = randomBytes(20_000);
    await gw.store.put(key, Readable.from([data]), { size: data.length });
    const p = await presign(key, 'GET');
    const url = new URL(p.url);
    expect(url.origin).toBe(new URL(s3TestSettings().endpoint).origin);
    expect(url.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('600');
    const res = await fetch(p.url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    const part = await fetch(p.url, { headers: { Range: 'bytes=5-9' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(5, 10))).toBe(true);
  });

  it('gives a PUT URL whose upload the gateway then serves', async () => {
    const key = 'models/erin/put.bin';
    const data = randomBytes(50_000);
    const res = await fetch(gw.url('/api/presign'), { method: 'POST', body: JSON.stringify({ key, method: 'PUT', size: data.length }) });
    expect(res.status).toBe(200);
    const p = (await res.json()) as { url: string; headers: Record<string, string> };
    expect(p.headers).toEqual({ 'Content-Length': String(data.length) });
    const put = await fetch(p.url, { method: 'PUT', body: new Uint8Array(data) });
    expect(put.status).toBe(200);
    const got = await fetch(gw.url(`/api/objects/${encodeKeyPath(key)}`));
    expect(got.status).toBe(200);
    expect(got.headers.get('etag')).toBe(put.headers.get('etag'));
    expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
  });

  it('binds a PUT URL to size and sha256 (RGW refuses another length or body; defaults to one hour)', async () => {
    const key = 'models/erin/bound.bin';
    const data = randomBytes(20_000);
    const digest = createHash('sha256').update(data).digest('hex');
    const before = Date.now();
    const res = await fetch(gw.url('/api/presign'), {
      method: 'POST',
      body: JSON.stringify({ key, method: 'PUT', size: data.length, sha256: digest, contentType: 'application/x-onnx' }),
    });
    expect(res.status).toBe(200);
    const p = (await res.json()) as { url: string; expiresAt: string; headers: Record<string, string> };
    expect(new URL(p.url).searchParams.get('X-Amz-Expires')).toBe('3600');
    expect(Date.parse(p.expiresAt)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3_600_000);
    expect(p.headers).toEqual({
      'Content-Length': String(data.length),
      'Content-Type': 'application/x-onnx',
      'x-amz-checksum-sha256': Buffer.from(digest, 'hex').toString('base64'),
      'x-amz-meta-sha256': digest,
      'x-amz-content-sha256': digest,
    });
    const send = (body: Buffer) => fetch(p.url, { method: 'PUT', body: new Uint8Array(body), headers: withoutLength(p.headers) });
    const longer = await send(Buffer.concat([data, Buffer.from('x')]));
    expect(longer.status).toBe(403);
    const flipped = Buffer.from(data);
    flipped[0]! ^= 0xff;
    const other = await send(flipped);
    expect(other.status).toBe(400);
    expect(await other.text()).toMatch(/BadDigest|XAmzContentSHA256Mismatch/);
    expect((await fetch(gw.url(`/api/objects/${encodeKeyPath(key)}`))).status).toBe(404);
    expect((await send(data)).status).toBe(200);
    const info = await gw.store.stat(key);
    expect(info).toMatchObject({ size: data.length, contentType: 'application/x-onnx', metadata: { sha256: digest } });
  });

  it('S3 refuses a tampered, wrong-method or expired URL (403)', async () => {
    const key = 'models/erin/locked.bin';
    await gw.store.put(key, Readable.from([Buffer.from('locked')]), {});
    const g = await presign(key, 'GET');
    const sig = new URL(g.url).searchParams.get('X-Amz-Signature')!;
    expect((await fetch(g.url.replace(sig, (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1)))).status).toBe(403);
    expect((await fetch(g.url, { method: 'PUT', body: 'overwrite' })).status).toBe(403);
    const short = await presign(key, 'GET', 1);
    await new Promise((r) => setTimeout(r, Date.parse(short.expiresAt) + 1500 - Date.now()));
    expect((await fetch(short.url)).status).toBe(403);
  });

  it('caps expiresIn at SigV4 seven days and has no /storage route', async () => {
    const res = await fetch(gw.url('/api/presign'), { method: 'POST', body: JSON.stringify({ key: 'a/b', method: 'GET', expiresIn: 604_801 }) });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe('InvalidArgument');
    const storage = await fetch(gw.url('/storage/a/b'));
    expect(storage.status).toBe(404);
  });
});
