import { afterAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../../server/main.ts';
import { startGateway } from '../support/gateway.ts';
import { createTestBucket, s3TestSettings } from '../support/services.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'up.example.com', 'X-Forwarded-Prefix': '/gw' };
const cleanup: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

async function gateway(env: Record<string, string>): Promise<RunningGateway> {
  const gw = await startGateway({ env });
  cleanup.push(() => gw.close());
  return gw;
}

const create = (gw: RunningGateway, headers: Record<string, string> = {}) =>
  fetch(`${gw.url}/files/`, {
    method: 'POST',
    headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '5', 'Upload-Metadata': `filename ${Buffer.from('p.onnx').toString('base64')}`, ...headers },
  });

const presign = async (gw: RunningGateway, method: 'GET' | 'PUT', key: string, headers: Record<string, string> = {}, size?: number) => {
  const res = await fetch(`${gw.url}/api/presign`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ key, method, expiresIn: 300, ...(size === undefined ? {} : { size }) }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { url: string }).url;
};

describe('server.trustProxy', () => {
  it('on: tus Location and presigned /storage URLs follow X-Forwarded-Proto/-Host/-Prefix', async () => {
    const gw = await gateway({ UGW_SERVER__TRUST_PROXY: 'true' });
    const res = await create(gw, forwarded);
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toMatch(/^https:\/\/up\.example\.com\/gw\/files\/[A-Za-z0-9_-]+$/);

    const put = await presign(gw, 'PUT', 'models/p/a.bin', forwarded, 5);
    expect(put).toMatch(/^https:\/\/up\.example\.com\/gw\/storage\/models\/p\/a\.bin\?/);
    // The proxy strips /gw and ends TLS: the same path and query, sent to the gateway, is a valid URL.
    const local = (u: string) => `${gw.url}${new URL(u).pathname.replace(/^\/gw/, '')}${new URL(u).search}`;
    expect((await fetch(local(put), { method: 'PUT', body: 'hello' })).status).toBe(200);
    const get = await presign(gw, 'GET', 'models/p/a.bin', forwarded);
    expect(get.startsWith('https://up.example.com/gw/storage/models/p/a.bin?')).toBe(true);
    expect(await (await fetch(local(get))).text()).toBe('hello');

    // Without forwarded headers: publicUrl (derived from the bound port).
    expect(await presign(gw, 'GET', 'models/p/a.bin')).toMatch(new RegExp(`^${gw.url}/storage/`));
  });

  it('off: the same headers are ignored', async () => {
    const gw = await gateway({});
    const res = await create(gw, forwarded);
    // Location is built from publicUrl (a path: tus allows a relative Location), never from the forwarded headers.
    expect(res.headers.get('location')).toMatch(/^\/files\/[A-Za-z0-9_-]+$/);
    expect(await presign(gw, 'GET', 'models/p/b.bin', forwarded)).toMatch(new RegExp(`^${gw.url}/storage/models/p/b\\.bin\\?`));
  });

  it('an explicit PUBLIC_URL wins over the derived one', async () => {
    const gw = await gateway({ PUBLIC_URL: 'https://models.example.org/base' });
    expect(await presign(gw, 'GET', 'models/p/c.bin')).toMatch(/^https:\/\/models\.example\.org\/base\/storage\/models\/p\/c\.bin\?/);
  });
});

describe('storage.s3.publicEndpoint', () => {
  it('presigned S3 URLs name the public endpoint and work through it; the gateway still talks to endpoint', async () => {
    const s = s3TestSettings();
    const bucket = await createTestBucket('public-endpoint');
    // The "public" name of the same S3: a TCP proxy in front of it (as a browser would reach MinIO under compose).
    const front = await startTcpProxy({ port: Number(new URL(s.endpoint).port) });
    cleanup.push(() => front.close());
    const gw = await gateway({
      STORAGE_BACKEND: 's3', S3_ENDPOINT: s.endpoint, S3_REGION: s.region, S3_ACCESS_KEY: s.accessKey, S3_SECRET_KEY: s.secretKey,
      S3_BUCKET: bucket, UGW_STORAGE__S3__PUBLIC_ENDPOINT: front.url,
    });
    const put = await presign(gw, 'PUT', 'models/p/s3.bin', {}, 'via public endpoint'.length);
    expect(put.startsWith(`${front.url}/${bucket}/models/p/s3.bin?`)).toBe(true);
    expect((await fetch(put, { method: 'PUT', body: 'via public endpoint' })).status).toBe(200);
    const get = await presign(gw, 'GET', 'models/p/s3.bin');
    expect(get.startsWith(`${front.url}/`)).toBe(true);
    expect(await (await fetch(get)).text()).toBe('via public endpoint');
    // The gateway's own reads go to endpoint, not through the public one.
    const before = front.accepted;
    expect(await (await fetch(`${gw.url}/api/objects/models/p/s3.bin`)).text()).toBe('via public endpoint');
    expect(front.accepted).toBe(before);
  });
});
