import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMetadata, patch, raw, tusHeaders } from '../gateway/pairings.ts';
import { createTestBucket, redisUrl } from '../support/services.ts';
import { bearer, KEYS, startAuthGateway, type AuthGateway } from './support.ts';

const SETUPS = ['file+localfs', 's3+s3', 'two gateways on Redis'] as const;

describe.each(SETUPS)('quotas under concurrent creations (%s)', (setup) => {
  let gws: AuthGateway[];
  const limits = { limits: { ownerUploads: 2, ownerBytes: 100 } };
  beforeAll(async () => {
    if (setup === 'two gateways on Redis') {
      // A bucket of their own: the s3+s3 gateway above stored alice's bytes in the shared one.
      const env = { REDIS_URL: `${redisUrl()}/14` /* a database of this file's own: see test/support/services.ts */, S3_BUCKET: await createTestBucket('quota-redis') };
      gws = [await startAuthGateway('s3+s3', limits, env), await startAuthGateway('s3+s3', limits, env)];
    } else {
      gws = [await startAuthGateway(setup, limits)];
    }
  }, 60_000);
  afterAll(() => Promise.all(gws?.map((g) => g.close()) ?? []));

  let n = 0;
  const create = (i: number, length: number, key: string) =>
    raw(`${gws[i % gws.length]!.url}/files`, {
      method: 'POST',
      headers: tusHeaders({ ...bearer(key), 'Upload-Length': String(length), 'Upload-Metadata': encodeMetadata({ filename: `q-${setup.length}-${n++}.bin` }) }),
    });

  it('ownerUploads: six at once → exactly two created, four 403 QuotaExceeded naming the limit and the numbers', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => create(i, 10, KEYS.bob)));
    expect(results.map((r) => r.status).sort()).toEqual([201, 201, 403, 403, 403, 403]);
    const refused = results.find((r) => r.status === 403)!;
    expect(refused.json.error.code).toBe('QuotaExceeded');
    expect(refused.json.error.message).toMatch(/limits\.ownerUploads: bob has 2 uploads in flight; at most 2/);
    // Finishing one frees a place.
    const done = results.find((r) => r.status === 201)!;
    const url = new URL(String(done.headers.location), gws[0]!.url).toString();
    expect((await patch(url, 0, Buffer.alloc(10, 1), bearer(KEYS.bob))).status).toBe(204);
    expect((await create(0, 10, KEYS.bob)).status).toBe(201);
  });

  it('ownerBytes counts stored bytes and the Upload-Length in flight: racing creations never exceed it', async () => {
    // alice: nothing stored, nothing in flight. 5 × 40 bytes at once against 100 bytes: two fit (one place left for uploads).
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => create(i, 40, KEYS.alice)));
    expect(results.filter((r) => r.status === 201), results.map((r) => r.text).join()).toHaveLength(2);
    const msgs = results.filter((r) => r.status === 403).map((r) => r.json.error.message as string);
    expect(msgs.length).toBe(3);
    for (const m of msgs) expect(m).toMatch(/limits\.(ownerBytes: alice uses 80 bytes|ownerUploads)/);
    // Finish one: its 40 bytes are now stored, and still count.
    const url = new URL(String(results.find((r) => r.status === 201)!.headers.location), gws[0]!.url).toString();
    expect((await patch(url, 0, Buffer.alloc(40, 2), bearer(KEYS.alice))).status).toBe(204);
    const over = await create(0, 30, KEYS.alice);
    expect(over.status).toBe(403);
    expect(over.json.error.message).toContain('alice uses 80 bytes');
    expect((await create(1, 20, KEYS.alice)).status).toBe(201);
  });
});

describe('free disk', () => {
  let gw: AuthGateway;
  beforeAll(async () => {
    gw = await startAuthGateway('file+localfs', { limits: { diskReserve: '1000TiB' } });
  }, 60_000);
  afterAll(() => gw?.close());

  it('a creation that would leave less than limits.diskReserve free → 507 InsufficientStorage, nothing created', async () => {
    const r = await raw(`${gw.url}/files`, { method: 'POST', headers: tusHeaders({ ...bearer(KEYS.alice), 'Upload-Length': '1' }) });
    expect(r.status).toBe(507);
    expect(r.json.error.code).toBe('InsufficientStorage');
    expect(r.headers.location).toBeUndefined();
  });
});
