import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeKeyPath } from '../../server/storage/keys.ts';
import { signStorageUrl } from '../../server/storage/signing.ts';
import { createLocalFsStore, TEMP_DIR } from '../../server/storage/localfs.ts';
import { useApp, type AppFixture } from '../support/app.ts';
import { errorOf, raw } from '../support/http.ts';

interface Presigned {
  url: string;
  method: string;
  expiresAt: string;
  headers?: Record<string, string>;
}

const presignRequest = (gw: AppFixture, body: unknown, init: RequestInit = {}) =>
  fetch(gw.url('/api/presign'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });

async function presign(gw: AppFixture, key: string, method: 'GET' | 'PUT', expiresIn = 600, extra: Record<string, unknown> = {}): Promise<Presigned> {
  const res = await presignRequest(gw, { key, method, expiresIn, ...extra });
  expect(res.status).toBe(200);
  return (await res.json()) as Presigned;
}

/** A chunked POST of `size` bytes without Content-Length; resolves with the status and body. */
function chunkedPost(gw: AppFixture, path: string, size: number): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(gw.baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'POST', agent: false, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    const block = Buffer.alloc(4096, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += block.length;
        if (!req.write(block)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('POST /api/presign and /storage/{key} (localfs)', () => {
  const gw = useApp();

  it('presigns a GET that downloads the object over the /storage route, with Range', async () => {
    const key = 'models/bob/résumé 1.bin';
    const data = randomBytes(5000);
    await gw.store.put(key, Readable.from([data]), { size: data.length, contentType: 'application/x-model' });
    const before = Date.now();
    const p = await presign(gw, key, 'GET', 600);
    expect(p.method).toBe('GET');
    expect(p.url.startsWith(`${gw.baseUrl}/storage/${encodeKeyPath(key)}?expires=`)).toBe(true);
    const expiresAt = Date.parse(p.expiresAt);
    expect(new Date(expiresAt).toISOString()).toBe(p.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 600_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 600_000);
    expect(Number(new URL(p.url).searchParams.get('expires')) * 1000).toBe(expiresAt);

    const res = await fetch(p.url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    expect(res.headers.get('content-type')).toBe('application/x-model');
    expect(res.headers.get('content-disposition')).toContain("filename*=UTF-8''r%C3%A9sum%C3%A9%201.bin");

    const part = await fetch(p.url, { headers: { Range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 100-199/5000');
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(100, 200))).toBe(true);

    const head = await fetch(p.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('5000');
  });

  it('presigns a PUT that streams the body into the store, keeping Content-Type', async () => {
    const key = 'models/carol/weights.safetensors';
    const data = randomBytes(300_000);
    const p = await presign(gw, key, 'PUT', 600, { size: data.length, contentType: 'application/x-safetensors' });
    expect(p.headers).toEqual({ 'Content-Length': '300000', 'Content-Type': 'application/x-safetensors' });
    expect(p.method).toBe('PUT');
    const put = await fetch(p.url, { method: 'PUT', body: new Uint8Array(data), headers: { 'Content-Type': 'application/x-safetensors' } });
    expect(put.status).toBe(200);
    const etag = put.headers.get('etag');
    expect(etag).toBe(`"${createHash('sha256').update(data).digest('hex').slice(0, 32)}"`);
    expect(await put.text()).toBe('');

    // Its sha256, computed as the body streamed, is in its metadata as for every finalized upload.
    expect((await gw.store.stat(key)).metadata).toEqual({ sha256: createHash('sha256').update(data).digest('hex') });
    const got = await fetch(gw.url(`/api/objects/${encodeKeyPath(key)}`));
    expect(got.headers.get('content-type')).toBe('application/x-safetensors');
    expect(got.headers.get('etag')).toBe(etag);
    expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
  });

  it('accepts a chunked PUT without Content-Length of exactly the signed size', async () => {
    const key = 'models/carol/chunked.bin';
    const p = await presign(gw, key, 'PUT', 600, { size: 120_000 });
    const parts = [randomBytes(70_000), randomBytes(50_000)];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of parts) controller.enqueue(new Uint8Array(part));
        controller.close();
      },
    });
    const put = await fetch(p.url, { method: 'PUT', body, duplex: 'half' } as RequestInit);
    expect(put.status).toBe(200);
    expect((await gw.store.stat(key)).size).toBe(120_000);
  });

  describe('a PUT URL is a capability for one body', () => {
    const tempFiles = () => readdir(join(gw.root, TEMP_DIR));
    const absent = async (key: string) => expect((await fetch(gw.url(`/api/objects/${encodeKeyPath(key)}`))).status).toBe(404);

    it('binds the size: another Content-Length → 403 before a byte is stored; a tampered size → 403', async () => {
      const key = 'models/frank/sized.bin';
      const p = await presign(gw, key, 'PUT', 600, { size: 1000 });
      const url = new URL(p.url);
      expect(url.searchParams.get('size')).toBe('1000');
      for (const length of [999, 1001, 0]) {
        const res = await fetch(p.url, { method: 'PUT', body: new Uint8Array(length) });
        expect(res.status, `${length} bytes`).toBe(403);
        const err = await errorOf(res);
        expect(err.code).toBe('SignatureDoesNotMatch');
        if (length) expect(err.message).toContain('1000');
      }
      url.searchParams.set('size', '1001');
      const tampered = await fetch(url, { method: 'PUT', body: new Uint8Array(1001) });
      expect(tampered.status).toBe(403);
      await absent(key);
      expect(await tempFiles()).toEqual([]);
      expect((await fetch(p.url, { method: 'PUT', body: new Uint8Array(1000) })).status).toBe(200);
    });

    it('a chunked body that runs longer or shorter than the signed size → 400, nothing stored', async () => {
      const key = 'models/frank/chunked.bin';
      const p = await presign(gw, key, 'PUT', 600, { size: 100_000 });
      for (const total of [100_001, 99_999]) {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new Uint8Array(60_000));
            controller.enqueue(new Uint8Array(total - 60_000));
            controller.close();
          },
        });
        const res = await fetch(p.url, { method: 'PUT', body, duplex: 'half' } as RequestInit);
        expect(res.status, `${total} bytes`).toBe(400);
        expect((await errorOf(res)).code).toBe('InvalidArgument');
      }
      await absent(key);
      expect(await tempFiles()).toEqual([]);
    });

    it('binds the sha256: another body of the same length → 400 BadDigest and nothing stored (an old object stays)', async () => {
      const key = 'models/frank/model.onnx';
      await gw.store.put(key, Readable.from([Buffer.from('the old model')]), {});
      const data = randomBytes(200_000);
      const digest = createHash('sha256').update(data).digest('hex');
      const p = await presign(gw, key, 'PUT', 600, { size: data.length, sha256: digest });
      expect(new URL(p.url).searchParams.get('sha256')).toBe(digest);
      expect(p.headers).toEqual({ 'Content-Length': String(data.length) });
      const evil = Buffer.from(data);
      evil[data.length - 1]! ^= 1;
      const refused = await fetch(p.url, { method: 'PUT', body: new Uint8Array(evil) });
      expect(refused.status).toBe(400);
      const err = await errorOf(refused);
      expect(err.code).toBe('BadDigest');
      expect(err.message).toContain(digest);
      expect(Buffer.concat(await (await gw.store.get(key)).body.toArray()).toString()).toBe('the old model');
      expect(await tempFiles()).toEqual([]);
      const tampered = new URL(p.url);
      tampered.searchParams.set('sha256', createHash('sha256').update(evil).digest('hex'));
      expect((await fetch(tampered, { method: 'PUT', body: new Uint8Array(evil) })).status).toBe(403);
      const ok = await fetch(p.url, { method: 'PUT', body: new Uint8Array(data) });
      expect(ok.status).toBe(200);
      expect((await gw.store.stat(key)).metadata.sha256).toBe(digest);
      const got = await fetch(gw.url(`/api/objects/${encodeKeyPath(key)}`));
      expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
    });

    it('a URL without a signed size (an old-style PUT URL) is no capability: 403', async () => {
      const url = signStorageUrl({ publicUrl: gw.baseUrl, secret: gw.config.signing.secret, method: 'PUT', key: 'models/frank/old.bin', expiresAt: new Date(Date.now() + 60_000) });
      const res = await fetch(url, { method: 'PUT', body: 'anything' });
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe('SignatureDoesNotMatch');
      await absent('models/frank/old.bin');
    });
  });

  describe('refuses bad signatures with 403 JSON', () => {
    const key = 'models/dave/secret.bin';
    beforeAll(async () => {
      await gw.store.put(key, Readable.from([Buffer.from('top secret')]), {});
    });

    it('a tampered signature, key or expiry → SignatureDoesNotMatch', async () => {
      const p = await presign(gw, key, 'GET');
      const url = new URL(p.url);
      const sig = url.searchParams.get('signature')!;
      const tampered = [
        p.url.replace(sig, (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1)),
        p.url.replace('secret.bin', 'other.bin'),
        p.url.replace(`expires=${url.searchParams.get('expires')}`, `expires=${Number(url.searchParams.get('expires')) + 1}`),
        `${url.origin}${url.pathname}`,
        `${url.origin}${url.pathname}?expires=${url.searchParams.get('expires')}`,
        `${p.url}&signature=${sig}`,
      ];
      for (const u of tampered) {
        const res = await fetch(u);
        expect(res.status, u).toBe(403);
        expect((await errorOf(res)).code, u).toBe('SignatureDoesNotMatch');
      }
    });

    it('a GET URL used to PUT, or a PUT URL used to GET → SignatureDoesNotMatch', async () => {
      const g = await presign(gw, key, 'GET');
      const put = await fetch(g.url, { method: 'PUT', body: 'overwrite' });
      expect(put.status).toBe(403);
      expect((await errorOf(put)).code).toBe('SignatureDoesNotMatch');
      expect(await (await gw.store.get(key)).body.toArray().then((c) => Buffer.concat(c).toString())).toBe('top secret');

      const p = await presign(gw, key, 'PUT', 600, { size: 1 });
      const get = await fetch(p.url);
      expect(get.status).toBe(403);
      expect((await errorOf(get)).code).toBe('SignatureDoesNotMatch');
    });

    it('a URL past its expiry → ExpiredToken', async () => {
      const url = signStorageUrl({
        publicUrl: gw.baseUrl,
        secret: gw.config.signing.secret,
        method: 'GET',
        key,
        expiresAt: new Date(Date.now() - 2000),
      });
      const res = await fetch(url);
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe('ExpiredToken');
    });

    it('a presigned URL with expiresIn 1 stops working after its second', async () => {
      const p = await presign(gw, key, 'GET', 1);
      expect((await fetch(p.url)).status).toBe(200);
      await new Promise((r) => setTimeout(r, Date.parse(p.expiresAt) + 1100 - Date.now()));
      const res = await fetch(p.url);
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe('ExpiredToken');
    });
  });

  describe('validates the request', () => {
    const bad: Array<[string, unknown, string]> = [
      ['not JSON', '{"key":', 'InvalidArgument'],
      ['a JSON array', '[]', 'InvalidArgument'],
      ['JSON null', 'null', 'InvalidArgument'],
      ['no key', { method: 'GET', expiresIn: 60 }, 'InvalidArgument'],
      ['a number as key', { key: 5, method: 'GET', expiresIn: 60 }, 'InvalidArgument'],
      ['method DELETE', { key: 'a/b', method: 'DELETE', expiresIn: 60 }, 'InvalidArgument'],
      ['method get (lower case)', { key: 'a/b', method: 'get', expiresIn: 60 }, 'InvalidArgument'],
      ['a PUT without size', { key: 'a/b', method: 'PUT', expiresIn: 60 }, 'InvalidArgument'],
      ['a PUT with a negative size', { key: 'a/b', method: 'PUT', size: -1 }, 'InvalidArgument'],
      ['a PUT with a fractional size', { key: 'a/b', method: 'PUT', size: 1.5 }, 'InvalidArgument'],
      ['a PUT with size as a string', { key: 'a/b', method: 'PUT', size: '10' }, 'InvalidArgument'],
      ['a PUT with a short sha256', { key: 'a/b', method: 'PUT', size: 1, sha256: 'ab' }, 'InvalidArgument'],
      ['a PUT with a non-hex sha256', { key: 'a/b', method: 'PUT', size: 1, sha256: 'z'.repeat(64) }, 'InvalidArgument'],
      ['expiresIn 0', { key: 'a/b', method: 'GET', expiresIn: 0 }, 'InvalidArgument'],
      ['expiresIn 1.5', { key: 'a/b', method: 'GET', expiresIn: 1.5 }, 'InvalidArgument'],
      ['expiresIn as a string', { key: 'a/b', method: 'GET', expiresIn: '60' }, 'InvalidArgument'],
      ['expiresIn past maxTtl (7d)', { key: 'a/b', method: 'GET', expiresIn: 7 * 86400 + 1 }, 'InvalidArgument'],
      ['a key with ..', { key: 'a/../b', method: 'GET', expiresIn: 60 }, 'InvalidKey'],
      ['a key with a leading /', { key: '/a', method: 'PUT', expiresIn: 60 }, 'InvalidKey'],
      ['a sidecar key', { key: 'a/b.meta.json', method: 'PUT', expiresIn: 60 }, 'InvalidKey'],
    ];
    for (const [what, body, code] of bad) {
      it(`${what} → 400 ${code}`, async () => {
        const res = await presignRequest(gw, body);
        expect(res.status).toBe(400);
        expect((await errorOf(res)).code).toBe(code);
      });
    }

    it('defaults expiresIn to one hour', async () => {
      const before = Math.floor(Date.now() / 1000);
      const res = await presignRequest(gw, { key: 'a/b', method: 'GET' });
      expect(res.status).toBe(200);
      const p = (await res.json()) as Presigned;
      const expires = Number(new URL(p.url).searchParams.get('expires'));
      expect(expires - before).toBeGreaterThanOrEqual(3600);
      expect(expires - before).toBeLessThanOrEqual(3601);
      expect(Date.parse(p.expiresAt)).toBe(expires * 1000);
    });

    it('refuses to presign a PUT larger than tus.maxSize (413)', async () => {
      const res = await presignRequest(gw, { key: 'a/b', method: 'PUT', size: gw.config.tus.maxSize + 1 });
      expect(res.status).toBe(413);
      expect((await errorOf(res)).code).toBe('EntityTooLarge');
    });

    it('accepts expiresIn = maxTtl exactly', async () => {
      const p = await presign(gw, 'a/b', 'GET', 7 * 86400);
      expect(Date.parse(p.expiresAt)).toBeGreaterThan(Date.now() + 7 * 86400_000 - 2000);
    });

    it('a body over 16 KiB → 413 EntityTooLarge, declared or chunked', async () => {
      const res = await presignRequest(gw, JSON.stringify({ key: 'a'.repeat(17 * 1024), method: 'GET', expiresIn: 60 }));
      expect(res.status).toBe(413);
      expect((await errorOf(res)).code).toBe('EntityTooLarge');
      const chunked = await chunkedPost(gw, '/api/presign', 1024 * 1024);
      expect(chunked.status).toBe(413);
      expect(JSON.parse(chunked.body)).toMatchObject({ error: { code: 'EntityTooLarge' } });
    });

    it('GET /api/presign → 405 MethodNotAllowed with Allow: POST', async () => {
      const res = await fetch(gw.url('/api/presign'));
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect((await errorOf(res)).code).toBe('MethodNotAllowed');
    });
  });

  it('an invalid key in a /storage path is refused (403 unless signed, and no file escapes the root)', async () => {
    const res = await raw(gw.baseUrl + '/storage/a/%2E%2E/%2E%2E/etc/passwd?expires=9999999999&signature=' + '0'.repeat(64));
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body.toString())).toMatchObject({ error: { code: 'SignatureDoesNotMatch' } });
  });
});

describe('/storage with the s3 backend', () => {
  // The routes depend on storage.backend only; the store behind them does not matter here.
  const gw = useApp({
    env: { STORAGE_BACKEND: 's3' },
    makeStore: (config) => createLocalFsStore({ root: config.storage.localfs.root, publicUrl: config.server.publicUrl, signingSecret: 'x' }),
  });

  it('does not exist: 404 JSON', async () => {
    for (const method of ['GET', 'PUT']) {
      const res = await fetch(gw.url(`/storage/a/b?expires=1&signature=${'0'.repeat(64)}`), { method, ...(method === 'PUT' ? { body: 'x' } : {}) });
      expect(res.status).toBe(404);
      expect((await errorOf(res)).code).toBe('NotFound');
    }
  });
});
