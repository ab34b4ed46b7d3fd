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
      const env = { REDIS_URL: `${redisUrl()}/13` /* a database of this file's own: see test/support/services.ts */ };
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

  // (Only where /storage exists: with the s3 backend a presigned PUT goes to S3 itself.)
  if (setup === 'file+localfs') it('a /storage PUT URL is checked again when used: a key reserved or created since → 409; an overwrite URL replaces', async () => {
    const name = freshKey();
    const put = async (res: RawResponse, body = 'abc') => {
      const p = res.json as { url: string; headers: Record<string, string> };
      return raw(p.url, { method: 'PUT', headers: p.headers, body: Buffer.from(body) });
    };
    const early = await presignPut(0, name);
    const spare = await presignPut(0, name);
    expect([early.status, spare.status]).toEqual([200, 200]);
    // An upload in flight now targets the key: the URL signed before it may not write there.
    const upload = await create(0, name, 3);
    expect(upload.status).toBe(201);
    const reserved = await put(early);
    expect(reserved.status).toBe(409);
    expect(reserved.json.error.code).toBe('ObjectExists');
    expect((await patch(location(upload, 0), 0, Buffer.from('tus'), bearer(KEYS.alice))).status).toBe(204);
    // The upload became the object: a URL signed without overwrite may not replace it.
    const exists = await put(spare);
    expect(exists.status).toBe(409);
    expect(exists.json.error.message).toContain('an object exists at this key');
    const over = await presignPut(0, name, KEYS.alice, { overwrite: true });
    expect(new URL((over.json as { url: string }).url).searchParams.get('overwrite')).toBe('1');
    expect((await put(over, 'new')).status).toBe(200);
    expect((await raw(`${at(0).url}/api/objects/models/alice/${name}`, { headers: bearer(KEYS.alice) })).text).toBe('new');
    // The flag is signed: added to a URL signed without it, the signature fails.
    const forged = new URL((spare.json as { url: string }).url);
    forged.searchParams.set('overwrite', '1');
    const refused = await raw(forged.href, { method: 'PUT', headers: { 'Content-Length': '3' }, body: Buffer.from('bad') });
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe('SignatureDoesNotMatch');
  });

  if (setup === 'two gateways on Redis') it("an upload created on one gateway is another owner's on neither: 404 on both for bob", async () => {
    const c = await create(0, freshKey(), 5);
    expect(c.status).toBe(201);
    const id = String(c.headers.location).split('/').pop();
    for (const i of [0, 1]) {
      const url = `${at(i).url}/files/${id}`;
      expect((await raw(url, { method: 'HEAD', headers: tusHeaders(bearer(KEYS.bob)) })).status).toBe(404);
      expect((await patch(url, 0, Buffer.from('12345'), bearer(KEYS.bob))).status).toBe(404);
      expect((await raw(`${at(i).url}/api/uploads/${id}`, { headers: bearer(KEYS.bob) })).status).toBe(404);
      expect((await raw(url, { method: 'HEAD', headers: tusHeaders(bearer(KEYS.alice)) })).status).toBe(200);
    }
    expect((await raw(`${at(1).url}/files/${id}`, { method: 'DELETE', headers: tusHeaders(bearer(KEYS.bob)) })).status).toBe(404);
    expect((await raw(`${at(1).url}/api/uploads/${id}`, { headers: bearer(KEYS.alice) })).json).toMatchObject({ status: 'uploading', offset: 0 });
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
