import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../../server/main.ts';
import { startGateway } from '../support/gateway.ts';
import { createTestBucket, redisUrl, s3TestSettings } from '../support/services.ts';

const TUS = { 'Tus-Resumable': '1.0.0' };

/** Two gateways on one bucket and one Redis: what runs behind a load balancer. */
describe('several gateways on s3 with a shared Redis', () => {
  let a: RunningGateway;
  let b: RunningGateway;
  let redis: Redis;
  let db: number;

  beforeAll(async () => {
    const s3 = s3TestSettings();
    const bucket = await createTestBucket('multi');
    // A Redis database of its own, so other test files' keys never mix with these.
    db = 12; // see test/support/services.ts
    const url = `${redisUrl()}/${db}`;
    const env = {
      TUS_DATASTORE: 's3', STORAGE_BACKEND: 's3', S3_ENDPOINT: s3.endpoint, S3_BUCKET: bucket,
      S3_ACCESS_KEY: s3.accessKey, S3_SECRET_KEY: s3.secretKey, S3_REGION: s3.region, REDIS_URL: url,
    };
    a = await startGateway({ env });
    b = await startGateway({ env });
    redis = new Redis(url);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.quit();
  });

  it('an upload begun on one instance resumes on the other and is finalized once, with the right sha256', async () => {
    const data = randomBytes(12 * 2 ** 20);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const created = await fetch(`${a.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, 'Upload-Length': String(data.length), 'Upload-Metadata': `filename ${Buffer.from('shared.onnx').toString('base64')}` },
    });
    expect(created.status).toBe(201);
    const id = new URL(created.headers.get('location')!, a.url).pathname.split('/').pop()!;
    const first = data.subarray(0, 8 * 2 ** 20); // one whole part on instance A
    const p1 = await fetch(`${a.url}/files/${id}`, {
      method: 'PATCH', headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: first,
    });
    expect(p1.status).toBe(204);
    expect(p1.headers.get('upload-offset')).toBe(String(first.length));

    // The hash state is in Redis, where instance B will continue it.
    expect(JSON.parse((await redis.get(`gateway:hash:${id}`))!).offset).toBe(first.length);

    // Instance B knows the upload (shared s3-store cache and records) and takes the rest.
    const head = await fetch(`${b.url}/files/${id}`, { method: 'HEAD', headers: TUS });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe(String(first.length));
    const p2 = await fetch(`${b.url}/files/${id}`, {
      method: 'PATCH', headers: { ...TUS, 'Upload-Offset': String(first.length), 'Content-Type': 'application/offset+octet-stream' },
      body: data.subarray(first.length),
    });
    expect(p2.status).toBe(204);
    expect(p2.headers.get('object-key')).toBe('models/anonymous/shared.onnx');

    // Both instances answer HEAD of the finished upload from the shared record.
    for (const gw of [a, b]) {
      const h = await fetch(`${gw.url}/files/${id}`, { method: 'HEAD', headers: TUS });
      expect(h.status).toBe(200);
      expect(h.headers.get('upload-offset')).toBe(String(data.length));
      expect(h.headers.get('object-key')).toBe('models/anonymous/shared.onnx');
    }
    const info = await (await fetch(`${a.url}/api/objects?prefix=models/anonymous/shared`)).json();
    expect(info.objects).toHaveLength(1);
    expect(info.objects[0].metadata.sha256).toBe(sha256);
    const body = Buffer.from(await (await fetch(`${b.url}/api/objects/models/anonymous/shared.onnx`)).arrayBuffer());
    expect(createHash('sha256').update(body).digest('hex')).toBe(sha256);
    expect(JSON.parse((await redis.get(`gateway:record:${id}`))!).status).toBe('done');
  });

  it('racing empty PATCHes on both instances after the last byte finalize exactly once', async () => {
    const data = randomBytes(64 * 1024);
    const url = await new Promise<string>((resolve, reject) => {
      const up = new tus.Upload(data, {
        endpoint: `${a.url}/files/`, metadata: { filename: 'race.bin', owner: 'multi' },
        onSuccess: () => resolve(up.url!), onError: reject,
      });
      up.start();
    });
    const id = url.split('/').pop()!;
    const finishedBefore = await finished([a, b]);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        fetch(`${(i % 2 ? a : b).url}/files/${id}`, {
          method: 'PATCH', headers: { ...TUS, 'Upload-Offset': String(data.length), 'Content-Type': 'application/offset+octet-stream' },
        }),
      ),
    );
    for (const r of answers) {
      expect(r.status).toBe(204);
      expect(r.headers.get('object-key')).toBe('models/multi/race.bin');
    }
    expect(await finished([a, b])).toBe(finishedBefore);
  });

  const octets = (offset: number, extra: Record<string, string> = {}) => ({
    ...TUS, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', ...extra,
  });

  it('shares a length declared (creation-defer-length) on another instance than the creator: the final PATCH finalizes', async () => {
    const data = randomBytes(10 * 2 ** 20);
    const created = await fetch(`${a.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, 'Upload-Defer-Length': '1', 'Upload-Metadata': `filename ${Buffer.from('deferred.bin').toString('base64')},owner ${Buffer.from('multi').toString('base64')}` },
    });
    expect(created.status).toBe(201);
    const id = new URL(created.headers.get('location')!, a.url).pathname.split('/').pop()!;
    const first = data.subarray(0, 8 * 2 ** 20);
    expect((await fetch(`${a.url}/files/${id}`, { method: 'PATCH', headers: octets(0), body: first })).status).toBe(204);
    // Instance B learns the length with its PATCH, which is not the last one.
    const middle = data.subarray(first.length, first.length + 2 ** 20);
    const p2 = await fetch(`${b.url}/files/${id}`, { method: 'PATCH', headers: octets(first.length, { 'Upload-Length': String(data.length) }), body: middle });
    expect(p2.status).toBe(204);
    // Both instances know it now.
    for (const gw of [a, b]) {
      const h = await fetch(`${gw.url}/files/${id}`, { method: 'HEAD', headers: TUS });
      expect(h.headers.get('upload-length')).toBe(String(data.length));
      expect((await (await fetch(`${gw.url}/api/uploads/${id}`)).json()).length).toBe(data.length);
    }
    const offset = first.length + middle.length;
    const last = await fetch(`${a.url}/files/${id}`, { method: 'PATCH', headers: octets(offset), body: data.subarray(offset) });
    expect(last.status).toBe(204);
    expect(last.headers.get('object-key')).toBe('models/multi/deferred.bin');
    const body = Buffer.from(await (await fetch(`${b.url}/api/objects/models/multi/deferred.bin`)).arrayBuffer());
    expect(body.equals(data)).toBe(true);
  });

  it('refuses a corrupted chunk on one instance and takes it again on the other, ending byte-exact', async () => {
    const data = randomBytes(11 * 2 ** 20);
    const sum = (d: Buffer) => `sha256 ${createHash('sha256').update(d).digest('base64')}`;
    const created = await fetch(`${a.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, 'Upload-Length': String(data.length), 'Upload-Metadata': `filename ${Buffer.from('checked.bin').toString('base64')},owner ${Buffer.from('multi').toString('base64')},sha256 ${Buffer.from(createHash('sha256').update(data).digest('hex')).toString('base64')}` },
    });
    const id = new URL(created.headers.get('location')!, a.url).pathname.split('/').pop()!;
    const first = data.subarray(0, 8 * 2 ** 20);
    expect((await fetch(`${a.url}/files/${id}`, { method: 'PATCH', headers: octets(0, { 'Upload-Checksum': sum(first) }), body: first })).status).toBe(204);
    const rest = data.subarray(first.length);
    const bad = Buffer.from(rest);
    const at = Math.floor(Math.random() * bad.length);
    bad[at] = bad[at]! ^ 0x01;
    const refused = await fetch(`${b.url}/files/${id}`, { method: 'PATCH', headers: octets(first.length, { 'Upload-Checksum': sum(rest) }), body: bad });
    expect(refused.status).toBe(460);
    expect((await refused.json()).error.code).toBe('ChecksumMismatch');
    const h = await fetch(`${a.url}/files/${id}`, { method: 'HEAD', headers: TUS });
    expect(h.headers.get('upload-offset')).toBe(String(first.length));
    expect(JSON.parse((await redis.get(`gateway:hash:${id}`))!).offset).toBe(first.length);
    const good = await fetch(`${a.url}/files/${id}`, { method: 'PATCH', headers: octets(first.length, { 'Upload-Checksum': sum(rest) }), body: rest });
    expect(good.status).toBe(204);
    const body = Buffer.from(await (await fetch(`${b.url}/api/objects/models/multi/checked.bin`)).arrayBuffer());
    expect(body.equals(data)).toBe(true);
  });
});

async function finished(gws: RunningGateway[]): Promise<number> {
  let total = 0;
  for (const gw of gws) {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    total += Number(/^gateway_uploads_finished_total (\d+)/m.exec(text)?.[1] ?? 0);
  }
  return total;
}
