/**
 * docs/api.md §4 through the gateway, on objects that arrived by tus, on every pairing:
 * listing and paging, HEAD/GET with ranges and conditionals, DELETE, presigned URLs
 * (localfs: the gateway's /storage; s3: real SigV4 URLs on the RGW), tampering.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  PAIRINGS,
  encodeMetadata,
  objectInfo,
  objectPath,
  randomData,
  raw,
  sha256Hex,
  usePairingGateway,
  tusHeaders,
  type ObjectInfoJSON,
} from './pairings.ts';

describe.each(PAIRINGS)('objects API on %s', { timeout: 60_000 }, (pairing) => {
  const gw = usePairingGateway(pairing);
  const owner = `lister-${Math.random().toString(36).slice(2, 8)}`;
  const names = ['a.bin', 'b.bin', 'c d.bin', 'e-é.bin', 'f.bin'];
  const objects = new Map<string, Buffer>();
  const keyOf = (name: string) => `models/${owner}/${name}`;
  const isLocalfs = pairing === 'file+localfs';

  async function tusPut(ownerName: string, filename: string, data: Buffer, filetype?: string) {
    const res = await raw(`${gw.url}/files`, {
      method: 'POST',
      headers: tusHeaders({
        'Upload-Length': String(data.length),
        'Upload-Metadata': encodeMetadata({ filename, owner: ownerName, ...(filetype ? { filetype } : {}) }),
        'Content-Type': 'application/offset+octet-stream',
      }),
      body: data,
    });
    expect(res.status, res.text).toBe(201);
  }

  beforeAll(async () => {
    for (const [i, name] of names.entries()) {
      const data = randomData(1000 + i * 100);
      objects.set(keyOf(name), data);
      await tusPut(owner, name, data, 'application/x-test');
    }
    // Same prefix as text, different "folder": a prefix without / matches it, one with / does not.
    await tusPut(`${owner}x`, 'other.bin', randomData(10));
  }, 120_000);

  const presign = (body: unknown) =>
    raw(`${gw.url}/api/presign`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

  describe('listing', () => {
    it('lists the objects under a prefix in key order with their ObjectInfo', async () => {
      const res = await raw(`${gw.url}/api/objects?prefix=${encodeURIComponent(`models/${owner}/`)}`);
      expect(res.status).toBe(200);
      const listed = res.json.objects as ObjectInfoJSON[];
      expect(listed.map((o) => o.key)).toEqual([...objects.keys()].sort());
      expect(res.json.nextCursor).toBeUndefined();
      for (const o of listed) {
        const data = objects.get(o.key)!;
        expect(o.size).toBe(data.length);
        expect(o.contentType).toBe('application/x-test');
        expect(o.etag).toMatch(/^"[^"]+"$/);
        expect(new Date(o.lastModified).getTime()).toBeGreaterThan(Date.now() - 10 * 60_000);
        expect(o.metadata.sha256).toBe(sha256Hex(data));
        expect(o.metadata.uploadId).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(o.metadata.owner).toBe(owner);
      }
    });

    it('a prefix is a prefix of the key, not a folder', async () => {
      const res = await raw(`${gw.url}/api/objects?prefix=${encodeURIComponent(`models/${owner}`)}`);
      expect((res.json.objects as ObjectInfoJSON[]).map((o) => o.key)).toContain(`models/${owner}x/other.bin`);
    });

    it('pages with limit and cursor through every object exactly once', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const q = new URLSearchParams({ prefix: `models/${owner}/`, limit: '2', ...(cursor ? { cursor } : {}) });
        const res = await raw(`${gw.url}/api/objects?${q}`);
        expect(res.status, res.text).toBe(200);
        expect(res.json.objects.length).toBeLessThanOrEqual(2);
        seen.push(...(res.json.objects as ObjectInfoJSON[]).map((o) => o.key));
        cursor = res.json.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      expect(seen).toEqual([...objects.keys()].sort());
      expect(pages).toBe(3);
    });

    it.each(['0', '1001', '-1', 'ten', '1.5'])('refuses limit=%s with 400 InvalidArgument', async (limit) => {
      const res = await raw(`${gw.url}/api/objects?limit=${limit}`);
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe('InvalidArgument');
    });

    it('lists nothing (200, empty) under a prefix that matches nothing', async () => {
      const res = await raw(`${gw.url}/api/objects?prefix=models/nobody-here/`);
      expect(res.status).toBe(200);
      expect(res.json.objects).toEqual([]);
    });
  });

  describe('reading', () => {
    const key = () => keyOf('c d.bin');

    it('GET streams the object with the headers of docs/api.md §4', async () => {
      const data = objects.get(key())!;
      const res = await raw(gw.url + objectPath(key()));
      expect(res.status).toBe(200);
      expect(res.body.equals(data)).toBe(true);
      expect(res.headers['content-type']).toBe('application/x-test');
      expect(res.headers['content-length']).toBe(String(data.length));
      expect(res.headers['accept-ranges']).toBe('bytes');
      expect(res.headers['last-modified']).toBeTruthy();
      expect(res.headers.etag).toMatch(/^"[^"]+"$/);
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename="c d\.bin"/);
      const b64 = Buffer.from(sha256Hex(data), 'hex').toString('base64');
      expect(res.headers.digest).toBe(`sha-256=${b64}`);
      expect(res.headers['repr-digest']).toBe(`sha-256=:${b64}:`);
    });

    it('names a UTF-8 file in Content-Disposition with filename* (RFC 6266)', async () => {
      const res = await raw(gw.url + objectPath(keyOf('e-é.bin')));
      expect(res.status).toBe(200);
      expect(res.headers['content-disposition']).toContain(`filename*=UTF-8''e-%C3%A9.bin`);
    });

    it('HEAD answers the headers of GET and no body', async () => {
      const get = await raw(gw.url + objectPath(key()));
      const res = await raw(gw.url + objectPath(key()), { method: 'HEAD' });
      expect(res.status).toBe(200);
      expect(res.body.length).toBe(0);
      for (const h of ['content-type', 'content-length', 'etag', 'last-modified', 'accept-ranges', 'content-disposition', 'digest']) {
        expect(res.headers[h], h).toBe(get.headers[h]);
      }
    });

    it('HEAD of an absent object answers 404', async () => {
      const res = await raw(gw.url + objectPath(`models/${owner}/absent.bin`), { method: 'HEAD' });
      expect(res.status).toBe(404);
    });

    it('GET of an absent object answers 404 NoSuchKey JSON', async () => {
      const res = await raw(gw.url + objectPath(`models/${owner}/absent.bin`));
      expect(res.status).toBe(404);
      expect(res.json.error.code).toBe('NoSuchKey');
    });

    it('answers a Range with 206 and Content-Range', async () => {
      const data = objects.get(key())!;
      const res = await raw(gw.url + objectPath(key()), { headers: { Range: 'bytes=10-19' } });
      expect(res.status).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes 10-19/${data.length}`);
      expect(res.body.equals(data.subarray(10, 20))).toBe(true);
      const suffix = await raw(gw.url + objectPath(key()), { headers: { Range: 'bytes=-7' } });
      expect(suffix.status).toBe(206);
      expect(suffix.body.equals(data.subarray(data.length - 7))).toBe(true);
      const open = await raw(gw.url + objectPath(key()), { headers: { Range: `bytes=${data.length - 3}-` } });
      expect(open.status).toBe(206);
      expect(open.body.equals(data.subarray(data.length - 3))).toBe(true);
    });

    it('answers an unsatisfiable Range with 416 and Content-Range: bytes */size', async () => {
      const data = objects.get(key())!;
      const res = await raw(gw.url + objectPath(key()), { headers: { Range: `bytes=${data.length}-` } });
      expect(res.status).toBe(416);
      expect(res.headers['content-range']).toBe(`bytes */${data.length}`);
    });

    it('answers If-None-Match with the current ETag with 304, and another ETag with 200', async () => {
      const { headers } = await raw(gw.url + objectPath(key()), { method: 'HEAD' });
      const res = await raw(gw.url + objectPath(key()), { headers: { 'If-None-Match': String(headers.etag) } });
      expect(res.status).toBe(304);
      expect(res.body.length).toBe(0);
      expect(res.headers.etag).toBe(headers.etag);
      const other = await raw(gw.url + objectPath(key()), { headers: { 'If-None-Match': '"not-the-etag"' } });
      expect(other.status).toBe(200);
      const star = await raw(gw.url + objectPath(key()), { headers: { 'If-None-Match': '*' } });
      expect(star.status).toBe(304);
    });

    it('refuses a key with an empty or dot segment with 400 InvalidKey', async () => {
      for (const path of ['/api/objects/models//x', '/api/objects/models/%2E%2E/x', '/api/objects/models/a%zz']) {
        const res = await raw(gw.url + path);
        expect(res.status, path).toBe(400);
        expect(res.json.error.code, path).toBe('InvalidKey');
      }
    });
  });

  describe('DELETE', () => {
    it('deletes an object (204), after which it is absent; deleting it again is 204 too', async () => {
      const key = keyOf('f.bin');
      const res = await raw(gw.url + objectPath(key), { method: 'DELETE' });
      expect(res.status).toBe(204);
      objects.delete(key);
      expect((await raw(gw.url + objectPath(key))).status).toBe(404);
      expect(await objectInfo(gw.url, key)).toBeUndefined();
      expect((await raw(gw.url + objectPath(key), { method: 'DELETE' })).status).toBe(204);
    });
  });

  describe('presigned URLs', () => {
    it('presigns a GET that downloads the object, with Range, until it is tampered with', async () => {
      const key = keyOf('a.bin');
      const data = objects.get(key)!;
      const res = await presign({ key, method: 'GET', expiresIn: 300 });
      expect(res.status, res.text).toBe(200);
      expect(res.json.method).toBe('GET');
      const expiresAt = new Date(res.json.expiresAt).getTime();
      expect(expiresAt).toBeGreaterThan(Date.now() + 290_000);
      expect(expiresAt).toBeLessThan(Date.now() + 310_000);
      const url = new URL(res.json.url);
      if (isLocalfs) {
        expect(url.origin).toBe(gw.url);
        expect(url.pathname).toBe(`/storage/${key.split('/').map(encodeURIComponent).join('/')}`);
        expect(url.searchParams.get('signature')).toMatch(/^[0-9a-f]+$/);
      } else {
        expect(url.origin).toBe(new URL(gw.env.S3_ENDPOINT!).origin);
        expect(url.searchParams.get('X-Amz-Signature')).toBeTruthy();
      }
      const got = await fetch(url);
      expect(got.status).toBe(200);
      expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
      const part = await fetch(url, { headers: { Range: 'bytes=0-9' } });
      expect(part.status).toBe(206);
      expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(0, 10))).toBe(true);

      const sigParam = isLocalfs ? 'signature' : 'X-Amz-Signature';
      const tampered = new URL(url);
      const sig = tampered.searchParams.get(sigParam)!;
      tampered.searchParams.set(sigParam, (sig[0] === '0' ? '1' : '0') + sig.slice(1));
      expect((await fetch(tampered)).status).toBe(403);
      const otherKey = new URL(url);
      otherKey.pathname = otherKey.pathname.replace('a.bin', 'b.bin');
      expect((await fetch(otherKey)).status).toBe(403);
      const longer = new URL(url);
      longer.searchParams.set(isLocalfs ? 'expires' : 'X-Amz-Expires', isLocalfs ? String(Number(url.searchParams.get('expires')) + 1000) : '600');
      expect((await fetch(longer)).status).toBe(403);
      if (isLocalfs) {
        const body = await (await fetch(tampered)).json();
        expect(body.error.code).toBe('SignatureDoesNotMatch');
      }
    });

    it('presigns a PUT that stores a body with its Content-Type; the GET URL cannot PUT', async () => {
      const key = `models/${owner}/put/uploaded.txt`;
      const body = randomData(3000);
      const res = await presign({ key, method: 'PUT', expiresIn: 120, size: body.length });
      expect(res.status, res.text).toBe(200);
      expect(res.json.method).toBe('PUT');
      const put = await fetch(res.json.url, { method: 'PUT', body: Uint8Array.from(body), headers: { 'Content-Type': 'text/x-presigned' } });
      expect(put.status, await put.clone().text()).toBe(200);
      expect(put.headers.get('etag')).toBeTruthy();
      const got = await raw(gw.url + objectPath(key));
      expect(got.status).toBe(200);
      expect(got.body.equals(body)).toBe(true);
      expect(got.headers['content-type']).toBe('text/x-presigned');

      const getUrl = (await presign({ key, method: 'GET', expiresIn: 120 })).json.url;
      const wrong = await fetch(getUrl, { method: 'PUT', body: 'overwrite' });
      expect(wrong.status).toBe(403);
      expect((await raw(gw.url + objectPath(key))).body.equals(body)).toBe(true);
    });

    it('refuses a presigned URL once it has expired', async () => {
      const key = keyOf('b.bin');
      const res = await presign({ key, method: 'GET', expiresIn: 1 });
      expect(res.status).toBe(200);
      await sleep(2200);
      const got = await fetch(res.json.url);
      expect(got.status).toBe(403);
      if (isLocalfs) expect((await got.json()).error.code).toBe('ExpiredToken');
    });

    it.each([
      ['expiresIn 0', { method: 'GET', expiresIn: 0 }],
      ['expiresIn over signing.maxTtl', { method: 'GET', expiresIn: 8 * 86400 }],
      ['a fractional expiresIn', { method: 'GET', expiresIn: 1.5 }],
      ['method DELETE', { method: 'DELETE', expiresIn: 60 }],
      ['no method', { expiresIn: 60 }],
      ['a PUT without size', { method: 'PUT', expiresIn: 60 }],
    ])('refuses a presign request with %s: 400 InvalidArgument', async (_label, fields) => {
      const res = await presign({ key: keyOf('a.bin'), ...fields });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe('InvalidArgument');
    });

    it('refuses to presign an invalid key with 400 InvalidKey', async () => {
      for (const key of ['', '/models/x', 'models/../x', 'models/a\u0000b']) {
        const res = await presign({ key, method: 'GET', expiresIn: 60 });
        expect(res.status, JSON.stringify(key)).toBe(400);
        expect(res.json.error.code).toBe('InvalidKey');
      }
    });

    it('refuses a body that is not JSON with 400', async () => {
      const res = await raw(`${gw.url}/api/presign`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"key":' });
      expect(res.status).toBe(400);
    });
  });

  it('keeps every object intact and the process alive after all of the above', async () => {
    for (const [key, data] of objects) {
      const res = await raw(gw.url + objectPath(key));
      expect(res.status, key).toBe(200);
      expect(res.body.equals(data), key).toBe(true);
    }
    expect((await raw(`${gw.url}/healthz`)).status).toBe(200);
  });
});
