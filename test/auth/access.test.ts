import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpload, encodeMetadata, head, objectPath, patch, raw, randomData, tusHeaders, type Pairing } from '../gateway/pairings.ts';
import { bearer, KEYS, startAuthGateway, type AuthGateway } from './support.ts';

const PAIRS: Pairing[] = ['file+localfs', 's3+s3'];

describe.each(PAIRS)('owner rules on every route (%s)', (pairing) => {
  let gw: AuthGateway;
  let alicesUpload: string; // an upload in flight of alice's
  const data = randomData(1000);

  beforeAll(async () => {
    gw = await startAuthGateway(pairing);
  }, 60_000);
  afterAll(() => gw?.close());

  const json = (path: string, key: string | undefined, init: { method?: string; body?: string } = {}) =>
    raw(gw.url + path, { method: init.method ?? 'GET', headers: { ...(key ? bearer(key) : {}), ...(init.body ? { 'Content-Type': 'application/json' } : {}) }, ...(init.body ? { body: init.body } : {}) });

  it('no credential → 401 with the Bearer challenge; a bad one → 401 invalid_token', async () => {
    const none = await raw(`${gw.url}/files`, { method: 'POST', headers: tusHeaders({ 'Upload-Length': '3' }) });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="upload-gateway"');
    expect(none.json.error.code).toBe('Unauthorized');
    const bad = await json('/api/objects', 'ugw_not-a-key');
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toBe('Bearer realm="upload-gateway", error="invalid_token"');
    expect(bad.text).not.toContain('ugw_not-a-key');
    const basic = await raw(`${gw.url}/api/objects`, { headers: { Authorization: 'Basic YTpi' } });
    expect(basic.status).toBe(401);
    for (const path of ['/api/objects', '/api/uploads/abc', '/api/whoami', '/metrics']) expect((await json(path, undefined)).status).toBe(401);
  });

  it('public routes need no credential: /healthz, /readyz, /api/config, OPTIONS preflights', async () => {
    for (const path of ['/healthz', '/readyz', '/api/config']) expect((await raw(gw.url + path)).status).toBe(200);
    const pre = await raw(`${gw.url}/api/objects/models/alice/x`, {
      method: 'OPTIONS', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'DELETE', 'Access-Control-Request-Headers': 'authorization' },
    });
    expect(pre.status).toBe(204);
    expect(String(pre.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
    expect((await raw(`${gw.url}/files`, { method: 'OPTIONS' })).status).toBe(204);
  });

  it('whoami tells the owner and scopes of the credential', async () => {
    const r = await json('/api/whoami', KEYS.alice);
    expect(r.json).toEqual({ owner: 'alice', scopes: ['upload', 'read', 'delete'], via: 'apiKey' });
  });

  it('tus POST: owner absent → the credential owner; another owner → 403; admin → any', async () => {
    const other = await raw(`${gw.url}/files`, { method: 'POST', headers: tusHeaders({ ...bearer(KEYS.alice), 'Upload-Length': '3', 'Upload-Metadata': encodeMetadata({ owner: 'bob', filename: 'x.bin' }) }) });
    expect(other.status).toBe(403);
    expect(other.json.error.code).toBe('AccessDenied');
    const ro = await raw(`${gw.url}/files`, { method: 'POST', headers: tusHeaders({ ...bearer(KEYS.reader), 'Upload-Length': '3' }) });
    expect(ro.status).toBe(403);

    const up = await createUpload(gw.url, { length: data.length, metadata: { filename: 'model.bin' }, headers: bearer(KEYS.alice) });
    alicesUpload = up.url;
    const st = await json(`/api/uploads/${up.id}`, KEYS.alice);
    expect(st.status).toBe(200);
    expect(st.json.metadata.owner).toBe('alice');

    const adm = await createUpload(gw.url, { length: 1, metadata: { owner: 'bob', filename: 'from-admin.bin' }, headers: bearer(KEYS.admin) });
    expect((await json(`/api/uploads/${adm.id}`, KEYS.bob)).json.metadata.owner).toBe('bob');
    expect((await patch(adm.url, 0, Buffer.from('b'), bearer(KEYS.admin))).status).toBe(204);
  });

  it("another owner's upload does not exist: HEAD, PATCH, DELETE, GET /files/{id}, /api/uploads/{id} → 404", async () => {
    const id = alicesUpload.slice(alicesUpload.lastIndexOf('/') + 1);
    expect((await head(alicesUpload, bearer(KEYS.bob))).status).toBe(404);
    const p = await patch(alicesUpload, 0, data.subarray(0, 10), bearer(KEYS.bob));
    expect(p.status).toBe(404);
    expect((await raw(alicesUpload, { method: 'DELETE', headers: tusHeaders(bearer(KEYS.bob)) })).status).toBe(404);
    expect((await raw(alicesUpload, { headers: bearer(KEYS.bob) })).status).toBe(404);
    expect((await json(`/api/uploads/${id}`, KEYS.bob)).status).toBe(404);
    // Nothing of bob's PATCH was taken, and alice's upload goes on.
    const h = await head(alicesUpload, bearer(KEYS.alice));
    expect(h.headers['upload-offset']).toBe('0');
    const done = await patch(alicesUpload, 0, data, bearer(KEYS.alice));
    expect(done.status).toBe(204);
    expect(done.headers['object-key']).toBe('models/alice/model.bin');
    // Finished: still alice's alone.
    expect((await head(alicesUpload, bearer(KEYS.bob))).status).toBe(404);
    expect((await raw(alicesUpload, { headers: bearer(KEYS.bob) })).status).toBe(404);
    expect((await raw(alicesUpload, { headers: bearer(KEYS.alice) })).status).toBe(302);
  });

  it("objects of another owner: GET, HEAD, DELETE, list and presign → 403; one's own → allowed", async () => {
    const key = 'models/alice/model.bin';
    for (const method of ['GET', 'HEAD', 'DELETE']) {
      const r = await raw(gw.url + objectPath(key), { method, headers: bearer(KEYS.bob) });
      expect(r.status, method).toBe(403);
    }
    expect((await json('/api/objects?prefix=models/alice/', KEYS.bob)).status).toBe(403);
    expect((await json('/api/objects?prefix=models/', KEYS.bob)).status).toBe(403);
    const bobs = await json('/api/objects', KEYS.bob);
    expect(bobs.status).toBe(200);
    expect(bobs.json.objects.map((o: { key: string }) => o.key)).toEqual(['models/bob/from-admin.bin']);
    for (const method of ['GET', 'PUT']) {
      const r = await json('/api/presign', KEYS.bob, { method: 'POST', body: JSON.stringify({ key, method, expiresIn: 60 }) });
      expect(r.status, method).toBe(403);
    }
    // The read-only key reads alice's objects but may not delete or presign a PUT.
    expect((await raw(gw.url + objectPath(key), { headers: bearer(KEYS.reader) })).body.equals(data)).toBe(true);
    expect((await raw(gw.url + objectPath(key), { method: 'DELETE', headers: bearer(KEYS.reader) })).status).toBe(403);
    expect((await json('/api/presign', KEYS.reader, { method: 'POST', body: JSON.stringify({ key, method: 'PUT', expiresIn: 60, size: 1 }) })).status).toBe(403);
    expect((await json('/api/presign', KEYS.alice, { method: 'POST', body: JSON.stringify({ key, method: 'GET', expiresIn: 60 }) })).status).toBe(200);
    // Keys outside models/{owner}/ are admin's.
    expect((await raw(gw.url + objectPath('other/thing.bin'), { headers: bearer(KEYS.alice) })).status).toBe(403);
    expect((await raw(gw.url + objectPath('other/thing.bin'), { headers: bearer(KEYS.admin) })).status).toBe(404);
    // Admin lists everything.
    const all = await json('/api/objects?prefix=models/', KEYS.admin);
    expect(all.json.objects.map((o: { key: string }) => o.key)).toEqual(['models/alice/model.bin', 'models/bob/from-admin.bin']);
  });

  it('/metrics needs admin', async () => {
    expect((await json('/metrics', KEYS.alice)).status).toBe(403);
    expect((await json('/metrics', KEYS.admin)).status).toBe(200);
  });

  it('no credential ever reaches a log line', async () => {
    const logs = gw.logs();
    expect(logs).toContain('"path":"/files"');
    for (const key of Object.values(KEYS)) expect(logs).not.toContain(key);
    expect(logs).not.toContain('ugw_not-a-key');
    expect(logs.toLowerCase()).not.toContain('bearer ');
  });
});

describe('publicRead', () => {
  let gw: AuthGateway;
  beforeAll(async () => {
    gw = await startAuthGateway('file+localfs', { auth: { publicRead: true } });
  }, 60_000);
  afterAll(() => gw?.close());

  it('reads and lists without a credential; writes still need one', async () => {
    const up = await createUpload(gw.url, { length: 2, metadata: { filename: 'p.bin' }, headers: bearer(KEYS.alice) });
    await patch(up.url, 0, Buffer.from('hi'), bearer(KEYS.alice));
    expect((await raw(gw.url + objectPath('models/alice/p.bin'))).text).toBe('hi');
    expect((await raw(`${gw.url}/api/objects?prefix=models/`)).json.objects).toHaveLength(1);
    expect((await raw(gw.url + objectPath('models/alice/p.bin'), { method: 'DELETE' })).status).toBe(401);
    expect((await raw(gw.url + objectPath('models/alice/p.bin'), { method: 'DELETE', headers: bearer(KEYS.bob) })).status).toBe(403);
  });
});
