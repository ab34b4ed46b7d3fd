import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMetadata, patch, raw, tusHeaders, type RawResponse } from '../gateway/pairings.ts';
import { redisUrl } from '../support/services.ts';
import { bearer, KEYS, startAuthGateway, type AuthGateway } from './support.ts';

/** One gateway on file+localfs, one on s3+s3, and two s3+s3 gateways sharing one Redis (creations alternate between them). */
const SETUPS = ['file+localfs', 's3+s3', 'two gateways on Redis'] as const;

describe.each(SETUPS)('overwrite and reservation (%s)', (setup) => {
  let gws: AuthGateway[];
  const at = (i: number) => gws[i % gws.length]!;
  let n = 0;
  const freshKey = () => `race-${Date.now()}-${n++}.bin`;

  beforeAll(async () => {
    if (setup === 'two gateways on Redis') {
      const env = { REDIS_URL: `${redisUrl()}/${1 + Math.floor(Math.random() * 14)}` };
      gws = [await startAuthGateway('s3+s3', {}, env), await startAuthGateway('s3+s3', {}, env)];
    } else {
      gws = [await startAuthGateway(setup)];
    }
  }, 60_000);
  afterAll(() => Promise.all(gws?.map((g) => g.close()) ?? []));

  const create = (i: number, filename: string, length: number, key = KEYS.alice, extra: Record<string, string> = {}) =>
    raw(`${at(i).url}/files`, {
      method: 'POST',
      headers: tusHeaders({ ...bearer(key), 'Upload-Length': String(length), 'Upload-Metadata': encodeMetadata({ filename, ...extra }) }),
    });
  const presignPut = (i: number, filename: string, key = KEYS.alice, extra: Record<string, unknown> = {}) =>
    raw(`${at(i).url}/api/presign`, {
      method: 'POST',
      headers: { ...bearer(key), 'Content-Type': 'application/json' },
      body: JSON.stringify({ key: `models/${key === KEYS.carol ? 'carol' : 'alice'}/${filename}`, method: 'PUT', expiresIn: 60, size: 3, ...extra }),
    });
  const location = (r: RawResponse, i: number) => new URL(String(r.headers.location), at(i).url).toString();

  it('six creations at once for one key: exactly one 201, the others 409 ObjectExists', async () => {
    const name = freshKey();
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => create(i, name, 4)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409]);
    for (const r of results.filter((x) => x.status === 409)) expect(r.json.error.code).toBe('ObjectExists');
  });

  it('a key reserved by an upload in flight: a presigned PUT for it → 409; once finished, creating it again → 409 unless overwrite', async () => {
    const name = freshKey();
    const first = await create(0, name, 3);
    expect(first.status).toBe(201);
    const pre = await presignPut(1, name);
    expect(pre.status).toBe(409);
    expect(pre.json.error.code).toBe('ObjectExists');
    expect((await patch(location(first, 0), 0, Buffer.from('abc'), bearer(KEYS.alice))).status).toBe(204);

    const again = await create(1, name, 3);
    expect(again.status).toBe(409);
    expect(again.json.error.message).toContain('overwrite');
    expect((await presignPut(0, name)).status).toBe(409);
    // overwrite=true with delete: allowed; the replacement lands.
    const over = await create(1, name, 3, KEYS.alice, { overwrite: 'true' });
    expect(over.status).toBe(201);
    expect((await patch(location(over, 1), 0, Buffer.from('xyz'), bearer(KEYS.alice))).status).toBe(204);
    const got = await raw(`${at(0).url}/api/objects/models/alice/${name}`, { headers: bearer(KEYS.alice) });
    expect(got.text).toBe('xyz');
    expect((await presignPut(0, name, KEYS.alice, { overwrite: true })).status).toBe(200);
  });

  it('overwrite needs the delete scope', async () => {
    const name = freshKey();
    const c = await create(0, name, 1, KEYS.carol);
    expect(c.status).toBe(201);
    await patch(location(c, 0), 0, Buffer.from('1'), bearer(KEYS.carol));
    expect((await create(1, name, 1, KEYS.carol, { overwrite: 'true' })).status).toBe(403);
    expect((await presignPut(1, name, KEYS.carol, { overwrite: true })).status).toBe(403);
    expect((await create(1, name, 1, KEYS.carol)).status).toBe(409);
  });

  it('terminating the upload in flight frees its key', async () => {
    const name = freshKey();
    const first = await create(0, name, 10);
    expect(first.status).toBe(201);
    expect((await create(1, name, 10)).status).toBe(409);
    expect((await raw(location(first, 0), { method: 'DELETE', headers: tusHeaders(bearer(KEYS.alice)) })).status).toBe(204);
    expect((await create(1, name, 10)).status).toBe(201);
  });
});
