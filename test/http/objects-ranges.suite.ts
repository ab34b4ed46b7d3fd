/** Range (RFC 9110 §14) and conditional requests (§13) on `GET /api/objects/{key}`, part of objects.suite.ts. */
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeKeyPath } from '../../server/storage/keys.ts';
import type { ObjectInfo } from '../../server/storage/store.ts';
import type { AppFixture } from '../support/app.ts';
import { errorOf, raw } from '../support/http.ts';

export interface RangeSubject {
  gw: AppFixture;
  key: string;
  data: Buffer;
  info: ObjectInfo;
}

/** Call inside the suite's describe: `subject()` is read once its beforeAll has stored the object. */
export function describeRangesAndConditionals(subject: () => RangeSubject): void {
  let gw: AppFixture;
  let key: string;
  let data: Buffer;
  let info: ObjectInfo;
  beforeAll(() => {
    ({ gw, key, data, info } = subject());
  });
  const objectUrl = (k: string) => gw.url(`/api/objects/${encodeKeyPath(k)}`);

  describe('Range', () => {
    const get = (range: string, headers: Record<string, string> = {}) => fetch(objectUrl(key), { headers: { Range: range, ...headers } });
    const expectPartial = async (res: Response, start: number, end: number) => {
      expect(res.status).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${data.length}`);
      expect(res.headers.get('content-length')).toBe(String(end - start + 1));
      expect(res.headers.get('etag')).toBe(info.etag);
      expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(start, end + 1))).toBe(true);
    };

    it('bytes=a-b → 206 with Content-Range', async () => expectPartial(await get('bytes=10-19'), 10, 19));
    it('bytes=a- → the rest', async () => expectPartial(await get('bytes=99990-'), 99990, 99999));
    it('bytes=-n → the last n bytes', async () => expectPartial(await get('bytes=-7'), data.length - 7, data.length - 1));
    it('a last-pos past the end is clamped', async () => expectPartial(await get('bytes=99998-200000'), 99998, 99999));

    it('unsatisfiable → 416 InvalidRange JSON with Content-Range: bytes */size', async () => {
      for (const range of [`bytes=${data.length}-`, 'bytes=200000-300000', 'bytes=-0']) {
        const res = await get(range);
        expect(res.status, range).toBe(416);
        expect(res.headers.get('content-range')).toBe(`bytes */${data.length}`);
        expect((await errorOf(res)).code).toBe('InvalidRange');
      }
    });

    it('several ranges → the whole object with 200 (no multipart/byteranges)', async () => {
      const res = await get('bytes=0-1,10-11');
      expect(res.status).toBe(200);
      expect(res.headers.has('content-range')).toBe(false);
      expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    });

    it('a malformed Range is ignored → 200', async () => {
      const res = await get('bytes=9-1');
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBe(data.length);
    });

    it('If-Range with the current ETag applies the range; with another, serves the whole object', async () => {
      await expectPartial(await get('bytes=0-3', { 'If-Range': info.etag }), 0, 3);
      await expectPartial(await get('bytes=0-3', { 'If-Range': info.lastModified.toUTCString() }), 0, 3);
      const stale = await get('bytes=0-3', { 'If-Range': '"stale"' });
      expect(stale.status).toBe(200);
      expect((await stale.arrayBuffer()).byteLength).toBe(data.length);
    });
  });

  describe('conditional GET', () => {
    const get = (headers: Record<string, string>) => fetch(objectUrl(key), { headers });

    it('If-None-Match matching (exact, weak, in a list, or *) → 304 with the ETag and no body', async () => {
      const weak = `W/${info.etag}`;
      for (const value of [info.etag, weak, `"nope", ${info.etag}`, '*']) {
        const res = await get({ 'If-None-Match': value });
        expect(res.status, value).toBe(304);
        expect(res.headers.get('etag')).toBe(info.etag);
        expect(await res.text()).toBe('');
      }
    });

    it('If-None-Match not matching → 200', async () => {
      const res = await get({ 'If-None-Match': '"other"' });
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBe(data.length);
    });

    it('If-None-Match matching wins over Range, and HEAD gets 304 as well', async () => {
      expect((await get({ 'If-None-Match': info.etag, Range: 'bytes=0-1' })).status).toBe(304);
      const head = await raw(gw.baseUrl + `/api/objects/${encodeKeyPath(key)}`, { method: 'HEAD', headers: { 'If-None-Match': info.etag } });
      expect(head.status).toBe(304);
    });

    it('If-Modified-Since at Last-Modified → 304; earlier → 200', async () => {
      expect((await get({ 'If-Modified-Since': info.lastModified.toUTCString() })).status).toBe(304);
      const res = await get({ 'If-Modified-Since': new Date(info.lastModified.getTime() - 60_000).toUTCString() });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    });

    it('If-Match not matching → 412 PreconditionFailed JSON', async () => {
      const res = await get({ 'If-Match': '"other"' });
      expect(res.status).toBe(412);
      expect((await errorOf(res)).code).toBe('PreconditionFailed');
      const ok = await get({ 'If-Match': info.etag });
      expect(ok.status).toBe(200);
      await ok.arrayBuffer();
    });
  });

}
