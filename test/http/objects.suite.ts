/**
 * docs/api.md §4 objects API over real HTTP, run once per Store backend
 * (objects.test.ts: localfs, objects-s3.test.ts: Ceph RGW).
 */
import { create as contentDisposition, parse as parseContentDisposition } from 'content-disposition';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readlink } from 'node:fs/promises';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeKeyPath } from '../../server/storage/keys.ts';
import type { ObjectInfo } from '../../server/storage/store.ts';
import type { AppFixture } from '../support/app.ts';
import { errorOf, raw } from '../support/http.ts';
import { useStarted } from '../support/use.ts';
import { describeRangesAndConditionals } from './objects-ranges.suite.ts';

export interface ObjectsSuiteCaps {
  /** localfs: keys ending in `.meta.json` are refused, and open file handles can be counted. */
  localfs: boolean;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

export function describeObjectsApi(name: string, start: () => Promise<AppFixture>, caps: ObjectsSuiteCaps): void {
  describe(`objects API (${name})`, { timeout: 60_000 }, () => {
    const gw = useStarted(`objects API (${name})`, start);
    const ns = `t-${Math.random().toString(36).slice(2, 8)}`;
    const data = randomBytes(100_000);
    const key = `${ns}/models/alice/model.bin`;
    let info: ObjectInfo;
    const objectUrl = (k: string) => gw.url(`/api/objects/${encodeKeyPath(k)}`);

    const putObject = (k: string, body: Buffer, contentType = 'application/octet-stream', withSha = true) =>
      gw.store.put(k, Readable.from([body]), {
        contentType,
        size: body.length,
        metadata: withSha ? { sha256: sha256(body).toString('hex'), uploadId: 'up1' } : {},
      });

    beforeAll(async () => {
      info = await putObject(key, data);
    });

    describe('GET /api/objects/{key}', () => {
      it('streams the whole object with the headers of docs/api.md §4', async () => {
        const res = await fetch(objectUrl(key));
        expect(res.status).toBe(200);
        expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
        expect(res.headers.get('content-type')).toBe('application/octet-stream');
        expect(res.headers.get('content-length')).toBe(String(data.length));
        expect(res.headers.get('etag')).toBe(info.etag);
        expect(res.headers.get('last-modified')).toBe(info.lastModified.toUTCString());
        expect(res.headers.get('accept-ranges')).toBe('bytes');
        expect(res.headers.get('content-disposition')).toBe('attachment; filename=model.bin');
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      });

      it('sends Digest and Repr-Digest with the sha256 of the metadata', async () => {
        const b64 = sha256(data).toString('base64');
        const res = await fetch(objectUrl(key));
        await res.arrayBuffer();
        expect(res.headers.get('digest')).toBe(`sha-256=${b64}`);
        expect(res.headers.get('repr-digest')).toBe(`sha-256=:${b64}:`);
      });

      it('omits the digests when the object has no sha256 metadata', async () => {
        const k = `${ns}/plain/no-sha.txt`;
        await putObject(k, Buffer.from('hello'), 'text/plain', false);
        const res = await fetch(objectUrl(k));
        expect(await res.text()).toBe('hello');
        expect(res.headers.get('content-type')).toBe('text/plain');
        expect(res.headers.has('digest')).toBe(false);
        expect(res.headers.has('repr-digest')).toBe(false);
      });

      it('names a UTF-8 file in Content-Disposition (RFC 6266 filename*, ASCII fallback)', async () => {
        const fileName = 'résumé 😀 "v2";.bin';
        const k = `${ns}/models/ünï/${fileName}`;
        await putObject(k, Buffer.from('x'));
        const res = await fetch(objectUrl(k));
        expect(await res.text()).toBe('x');
        const header = res.headers.get('content-disposition')!;
        expect(header).toBe(contentDisposition(fileName));
        expect(header).toContain("filename*=UTF-8''r%C3%A9sum%C3%A9%20%F0%9F%98%80%20%22v2%22%3B.bin");
        const parsed = parseContentDisposition(header);
        expect(parsed.type).toBe('attachment');
        expect(parsed.parameters.filename).toBe(fileName); // decoded from filename*, which wins over the fallback
      });

      it('decodes each path segment on its own: a %2F inside a segment is no separator but a 400 InvalidKey', async () => {
        const res = await raw(gw.baseUrl + `/api/objects/${ns}/models%2Falice/model.bin`);
        expect(res.status).toBe(400);
        expect(res.json).toMatchObject({ error: { code: 'InvalidKey' } });
        const ok = await raw(gw.baseUrl + `/api/objects/${ns}/models/alice/model.bin`);
        expect(ok.status).toBe(200);
        expect(ok.body.equals(data)).toBe(true);
      });

      it('answers an absent key with 404 NoSuchKey JSON', async () => {
        const res = await fetch(objectUrl(`${ns}/absent.bin`));
        expect(res.status).toBe(404);
        expect((await errorOf(res)).code).toBe('NoSuchKey');
      });

      it('answers invalid keys with 400 InvalidKey JSON', async () => {
        const bad = [`${ns}/%2E%2E/x`, `${ns}/a/./b`, `${ns}//b`, `${ns}/%ZZ`, `${ns}/a%00b`, `${ns}/a%5Cb`, `%2F${ns}`];
        if (caps.localfs) bad.push(`${ns}/x.meta.json`);
        for (const path of bad) {
          const res = await raw(gw.baseUrl + `/api/objects/${path}`);
          expect(res.status, path).toBe(400);
          expect(res.json, path).toMatchObject({ error: { code: 'InvalidKey', message: expect.any(String) } });
        }
      });
    });

    describe('HEAD /api/objects/{key}', () => {
      it('has the headers of GET and no body', async () => {
        const [head, get] = await Promise.all([raw(gw.baseUrl + `/api/objects/${encodeKeyPath(key)}`, { method: 'HEAD' }), fetch(objectUrl(key))]);
        await get.arrayBuffer();
        expect(head.status).toBe(200);
        expect(head.body.length).toBe(0);
        for (const h of ['content-type', 'content-length', 'etag', 'last-modified', 'accept-ranges', 'content-disposition', 'digest', 'repr-digest']) {
          expect(head.headers[h], h).toBe(get.headers.get(h));
        }
      });

      it('answers 404 for an absent key, with no body', async () => {
        const res = await raw(gw.baseUrl + `/api/objects/${ns}/absent.bin`, { method: 'HEAD' });
        expect(res.status).toBe(404);
        expect(res.body.length).toBe(0);
        expect(res.headers['x-error-code']).toBe('NoSuchKey');
      });

      it('ignores Range (RFC 9110 defines it for GET only)', async () => {
        const res = await raw(gw.baseUrl + `/api/objects/${encodeKeyPath(key)}`, { method: 'HEAD', headers: { Range: 'bytes=0-9' } });
        expect(res.status).toBe(200);
        expect(res.headers['content-length']).toBe(String(data.length));
      });
    });

    describeRangesAndConditionals(() => ({ gw, key, data, info }));

    describe('GET /api/objects (list)', () => {
      const listNs = `${ns}/list/`;
      beforeAll(async () => {
        for (const k of ['b', 'a', 'c/d', 'é']) await putObject(listNs + k, Buffer.from(k));
      });
      const list = async (query: string) => {
        const res = await fetch(gw.url(`/api/objects?${query}`));
        expect(res.status).toBe(200);
        return (await res.json()) as { objects: Array<Record<string, unknown>>; nextCursor?: string };
      };

      it('lists ObjectInfo under a prefix in key order', async () => {
        const page = await list(`prefix=${encodeURIComponent(listNs)}`);
        expect(page.objects.map((o) => o.key)).toEqual(['a', 'b', 'c/d', 'é'].map((k) => listNs + k));
        expect(page.nextCursor).toBeUndefined();
        const first = page.objects[0]!;
        expect(Object.keys(first).sort()).toEqual(['contentType', 'etag', 'key', 'lastModified', 'metadata', 'size']);
        expect(first).toMatchObject({ size: 1, contentType: 'application/octet-stream', metadata: { uploadId: 'up1' } });
        expect(new Date(first.lastModified as string).toISOString()).toBe(first.lastModified);
      });

      it('pages with limit and nextCursor', async () => {
        const keys: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await list(`prefix=${encodeURIComponent(listNs)}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
          expect(page.objects.length).toBeLessThanOrEqual(3);
          keys.push(...page.objects.map((o) => o.key as string));
          cursor = page.nextCursor;
        } while (cursor);
        expect(keys).toEqual(['a', 'b', 'c/d', 'é'].map((k) => listNs + k));
      });

      it('refuses a bad limit with 400 InvalidArgument JSON', async () => {
        for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'limit=1.5', 'limit=-1', 'limit=', 'limit=1&limit=2']) {
          const res = await fetch(gw.url(`/api/objects?${q}`));
          expect(res.status, q).toBe(400);
          expect((await errorOf(res)).code, q).toBe('InvalidArgument');
        }
      });

      it('refuses a cursor it did not hand out with 400 InvalidArgument JSON', async () => {
        const res = await fetch(gw.url('/api/objects?cursor=%21%21%21'));
        expect(res.status).toBe(400);
        expect((await errorOf(res)).code).toBe('InvalidArgument');
      });

      it('refuses a bad prefix with 400 InvalidKey JSON', async () => {
        const res = await fetch(gw.url('/api/objects?prefix=a/../b'));
        expect(res.status).toBe(400);
        expect((await errorOf(res)).code).toBe('InvalidKey');
      });
    });

    describe('DELETE /api/objects/{key}', () => {
      it('answers 204, also when the object is absent (as S3)', async () => {
        const k = `${ns}/delete/me.bin`;
        await putObject(k, Buffer.from('bye'));
        expect((await fetch(objectUrl(k), { method: 'DELETE' })).status).toBe(204);
        expect((await fetch(objectUrl(k))).status).toBe(404);
        expect((await fetch(objectUrl(k), { method: 'DELETE' })).status).toBe(204);
      });

      it('refuses an invalid key with 400 InvalidKey', async () => {
        const res = await raw(gw.baseUrl + `/api/objects/${ns}/%2E%2E/x`, { method: 'DELETE' });
        expect(res.status).toBe(400);
        expect(res.json).toMatchObject({ error: { code: 'InvalidKey' } });
      });
    });

    it('answers a method the route lacks with 405 MethodNotAllowed JSON and Allow', async () => {
      const res = await fetch(objectUrl(key), { method: 'PUT', body: 'x' });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')?.split(/,\s*/).sort()).toEqual(['DELETE', 'GET', 'HEAD']);
      expect((await errorOf(res)).code).toBe('MethodNotAllowed');
    });

    it('counts objects and bytes served in the metrics', async () => {
      const before = await served(gw);
      await (await fetch(objectUrl(key))).arrayBuffer();
      await (await fetch(objectUrl(key), { headers: { Range: 'bytes=0-99' } })).arrayBuffer();
      await sleep(50); // the counters move on the response's close event
      const after = await served(gw);
      expect(after.objects - before.objects).toBe(2);
      expect(after.bytes - before.bytes).toBe(data.length + 100);
    });

    it('survives a client that hangs up mid-download and releases the stream', async () => {
      const big = `${ns}/big/model.bin`;
      const size = 64 * 2 ** 20;
      await gw.store.put(big, Readable.from(chunks(size)), { size });
      const before = await served(gw);
      const { hostname, port } = new URL(gw.baseUrl);
      const received = await new Promise<number>((resolve, reject) => {
        const req = request({ hostname, port, path: `/api/objects/${encodeKeyPath(big)}`, agent: false }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => {
            n += c.length;
            if (n >= 1 << 20) {
              req.destroy();
              resolve(n);
            }
          });
          res.on('error', () => {});
        });
        req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
        req.end();
      });
      expect(received).toBeGreaterThan(0);
      // The server answers on, and the aborted download was not counted as an object served.
      const res = await fetch(objectUrl(key));
      expect((await res.arrayBuffer()).byteLength).toBe(data.length);
      await sleep(200);
      const after = await served(gw);
      expect(after.objects - before.objects).toBe(1);
      expect(after.bytes - before.bytes).toBeLessThan(size);
      if (caps.localfs) expect(await openHandlesTo(big)).toBe(0);
    });
  });
}

function* chunks(total: number): Generator<Buffer> {
  const block = randomBytes(2 ** 20);
  for (let left = total; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left);
}

async function served(gw: AppFixture): Promise<{ objects: number; bytes: number }> {
  const sum = async (metric: { get(): Promise<{ values: Array<{ value: number }> }> }) =>
    (await metric.get()).values.reduce((s, v) => s + v.value, 0);
  return { objects: await sum(gw.metrics.objectsServed), bytes: await sum(gw.metrics.bytesServed) };
}

/** File descriptors of this process (the server runs in it) open on a path ending with `key`. */
async function openHandlesTo(key: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    let open = 0;
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      if (target.endsWith(key)) open++;
    }
    if (open === 0) return 0;
    await sleep(20);
  }
  return 1;
}
