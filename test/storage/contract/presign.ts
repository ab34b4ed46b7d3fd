import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { bodyOf, expectGatewayError, fetchHeaders, type MakeStore, pseudoRandomBytes, readAll, sha256, status, tamperSignature, useContractStore } from './kit.ts';

/** The Store contract, presigned URLs over HTTP (docs/api.md §3). */
export function shouldPresign(makeStore: MakeStore): void {
  describe('presigned URLs over HTTP', () => {
    const { store, ns } = useContractStore(makeStore);
    const keys = ['models/jörg/模型 v1.onnx', 'models/x/a+b #1?&=;.bin'];

    for (const suffix of keys) {
      it(`serves a presigned GET, whole and ranged, for ${JSON.stringify(suffix)}`, async () => {
        const key = `${ns()}/${suffix}`;
        const bytes = pseudoRandomBytes(70_000, 61);
        await store.put(key, bodyOf(bytes), { contentType: 'application/x-onnx' });
        const url = await store.presignedGetUrl(key, { expiresIn: 300 });
        expect(new URL(url).protocol).toMatch(/^https?:$/);
        const whole = await fetch(url);
        expect(whole.status).toBe(200);
        expect(whole.headers.get('content-type')).toBe('application/x-onnx');
        expect(Buffer.from(await whole.arrayBuffer())).toEqual(bytes);
        const ranged = await fetch(url, { headers: { range: 'bytes=10-19' } });
        expect(ranged.status).toBe(206);
        expect(ranged.headers.get('content-range')).toBe(`bytes 10-19/${bytes.length}`);
        expect(Buffer.from(await ranged.arrayBuffer())).toEqual(bytes.subarray(10, 20));
      });

      it(`accepts a presigned PUT that creates and then replaces ${JSON.stringify(suffix)}`, async () => {
        const key = `${ns()}/${suffix}`;
        for (const [i, size] of [500_000, 1234].entries()) {
          const bytes = pseudoRandomBytes(size, 70 + i);
          const put = await store.presignedPutUrl(key, { expiresIn: 300, contentType: 'application/x-onnx', size });
          expect(put.headers).toEqual({ 'Content-Length': String(size), 'Content-Type': 'application/x-onnx' });
          const res = await fetch(put.url, { method: 'PUT', body: new Uint8Array(bytes), headers: fetchHeaders(put.headers) });
          expect(res.ok, `PUT answered ${res.status}: ${await res.clone().text()}`).toBe(true);
          await res.arrayBuffer();
          expect(await store.stat(key)).toMatchObject({ key, size, contentType: 'application/x-onnx' });
          expect(sha256(await readAll((await store.get(key)).body))).toBe(sha256(bytes));
        }
      });
    }

    it('binds a presigned PUT to its size: another length is refused and nothing is stored', async () => {
      const key = `${ns()}/sized`;
      const put = await store.presignedPutUrl(key, { expiresIn: 300, size: 10 });
      for (const body of ['0123456789A', '012345678', '']) {
        expect(await status(put.url, { method: 'PUT', body }), `a body of ${body.length} bytes`).toBe(403);
      }
      await expectGatewayError(store.stat(key), 'NoSuchKey');
      expect(await status(put.url, { method: 'PUT', body: '0123456789' })).toBe(200);
      expect((await store.stat(key)).size).toBe(10);
    });

    it('binds a presigned PUT to its sha256: another body is refused, the object keeps the verified digest', async () => {
      const key = `${ns()}/digest`;
      const good = pseudoRandomBytes(4096, 91);
      const evil = Buffer.from(good);
      evil[100]! ^= 1;
      const put = await store.presignedPutUrl(key, { expiresIn: 300, size: good.length, sha256: sha256(good).toUpperCase() });
      expect(put.headers['Content-Length']).toBe(String(good.length));
      const refused = await fetch(put.url, { method: 'PUT', body: new Uint8Array(evil), headers: fetchHeaders(put.headers) });
      expect(refused.status, await refused.clone().text()).toBe(400);
      // localfs and S3's checksum: BadDigest; RGW before Reef checks the signed payload hash instead.
      expect(await refused.text()).toMatch(/BadDigest|XAmzContentSHA256Mismatch/);
      await expectGatewayError(store.stat(key), 'NoSuchKey');
      const res = await fetch(put.url, { method: 'PUT', body: new Uint8Array(good), headers: fetchHeaders(put.headers) });
      expect(res.status, await res.clone().text()).toBe(200);
      const info = await store.stat(key);
      expect(info.size).toBe(good.length);
      expect(info.metadata.sha256).toBe(sha256(good));
      expect(sha256(await readAll((await store.get(key)).body))).toBe(sha256(good));
    });

    it('refuses to presign a PUT without a valid size or with a malformed sha256 (InvalidArgument)', async () => {
      const key = `${ns()}/x`;
      for (const size of [-1, 1.5, Number.NaN, undefined as unknown as number]) {
        await expectGatewayError(store.presignedPutUrl(key, { expiresIn: 60, size }), 'InvalidArgument');
      }
      for (const digest of ['abc', 'g'.repeat(64), sha256(Buffer.from('x')) + '0']) {
        await expectGatewayError(store.presignedPutUrl(key, { expiresIn: 60, size: 1, sha256: digest }), 'InvalidArgument');
      }
    });

    it('refuses to presign for a lifetime that is not positive with InvalidArgument', async () => {
      const key = `${ns()}/x`;
      for (const expiresIn of [0, -60]) {
        await expectGatewayError(store.presignedGetUrl(key, { expiresIn }), 'InvalidArgument');
        await expectGatewayError(store.presignedPutUrl(key, { expiresIn, size: 1 }), 'InvalidArgument');
      }
    });

    it('answers 404 to a presigned GET of an absent object', async () => {
      const res = await fetch(await store.presignedGetUrl(`${ns()}/absent`, { expiresIn: 60 }));
      expect(res.status).toBe(404);
      await res.arrayBuffer();
    });

    it('refuses with 403 a URL whose signature was tampered with', async () => {
      const key = `${ns()}/guarded`;
      await store.put(key, bodyOf(Buffer.from('secret')));
      expect(await status(tamperSignature(await store.presignedGetUrl(key, { expiresIn: 300 })))).toBe(403);
      const put = tamperSignature((await store.presignedPutUrl(key, { expiresIn: 300, size: 11 })).url);
      expect(await status(put, { method: 'PUT', body: 'overwritten' })).toBe(403);
      expect((await readAll((await store.get(key)).body)).toString()).toBe('secret');
    });

    it('refuses with 403 a URL used for another key', async () => {
      const p = ns();
      await store.put(`${p}/one.bin`, bodyOf(Buffer.from('one')));
      await store.put(`${p}/two.bin`, bodyOf(Buffer.from('two')));
      const swap = (url: string): string => {
        const u = new URL(url);
        expect(u.pathname).toContain('one.bin');
        u.pathname = u.pathname.replace('one.bin', 'two.bin');
        return u.toString();
      };
      expect(await status(swap(await store.presignedGetUrl(`${p}/one.bin`, { expiresIn: 300 })))).toBe(403);
      expect(await status(swap((await store.presignedPutUrl(`${p}/one.bin`, { expiresIn: 300, size: 1 })).url), { method: 'PUT', body: 'x' })).toBe(403);
      expect((await readAll((await store.get(`${p}/two.bin`)).body)).toString()).toBe('two');
    });

    it('refuses with 403 a URL used with another method', async () => {
      const key = `${ns()}/method`;
      await store.put(key, bodyOf(Buffer.from('original')));
      const getUrl = await store.presignedGetUrl(key, { expiresIn: 300 });
      const putUrl = (await store.presignedPutUrl(key, { expiresIn: 300, size: 11 })).url;
      expect(await status(getUrl, { method: 'PUT', body: 'overwritten' })).toBe(403);
      expect(await status(putUrl)).toBe(403);
      // DELETE is no presigned method at all: refused either as a wrong signature or as a method not allowed.
      expect([403, 405]).toContain(await status(getUrl, { method: 'DELETE' }));
      expect([403, 405]).toContain(await status(putUrl, { method: 'DELETE' }));
      expect((await readAll((await store.get(key)).body)).toString()).toBe('original');
    });

    it('refuses with 403 a URL past its expiry', async () => {
      const key = `${ns()}/expiring`;
      await store.put(key, bodyOf(Buffer.from('soon gone')));
      const getUrl = await store.presignedGetUrl(key, { expiresIn: 1 });
      const putUrl = (await store.presignedPutUrl(key, { expiresIn: 1, size: 8 })).url;
      await sleep(2600); // expiry has one-second resolution in both URL schemes
      expect(await status(getUrl)).toBe(403);
      expect(await status(putUrl, { method: 'PUT', body: 'too late' })).toBe(403);
      expect((await readAll((await store.get(key)).body)).toString()).toBe('soon gone');
    });
  });
}
