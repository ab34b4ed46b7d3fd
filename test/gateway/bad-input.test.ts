/**
 * docs/api.md §2's rules for what a tus request may carry, on every pairing: each bad
 * request is refused with a 4xx JSON error (never a 500), creates nothing, and the
 * gateway stays up.
 */
import { describe, expect, it } from 'vitest';
import {
  OCTETS,
  PAIRINGS,
  createUpload,
  encodeMetadata,
  head,
  metricValue,
  objectInfo,
  objectPath,
  patch,
  randomData,
  raw,
  usePairingGateway,
  tusArtifacts,
  tusHeaders,
  uniqueName,
  type RawResponse,
} from './pairings.ts';

const MAX_SIZE = 20 * 2 ** 30; // tus.maxSize in config/default.yaml

describe.each(PAIRINGS)('bad tus input on %s', { timeout: 60_000 }, (pairing) => {
  const gw = usePairingGateway(pairing);


  /** Runs `send` and checks that it created no upload: no tus file, record or S3 object, no creation counted. */
  async function expectNothingCreated(send: () => Promise<RawResponse>): Promise<RawResponse> {
    const before = await tusArtifacts(gw);
    const created = await metricValue(gw.url, 'gateway_uploads_created_total');
    const res = await send();
    expect(await tusArtifacts(gw)).toEqual(before);
    expect(await metricValue(gw.url, 'gateway_uploads_created_total')).toBe(created);
    return res;
  }

  function post(headers: Record<string, string>, body?: Buffer) {
    return raw(`${gw.url}/files`, {
      method: 'POST',
      headers: tusHeaders({ ...(body ? { 'Content-Type': OCTETS } : {}), ...headers }),
      ...(body ? { body } : {}),
    });
  }

  const expectJsonError = (res: RawResponse, status: number, code?: string) => {
    expect(res.status, res.text).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json?.error?.code).toBeTypeOf('string');
    if (code) expect(res.json.error.code).toBe(code);
  };

  describe('filename and owner must be single path segments', () => {
    const bad: Array<[string, string]> = [
      ['a slash', 'a/b'],
      ['a backslash', 'a\\b'],
      ['NUL', 'a\u0000b'],
      ['a control character', 'a\u0001b'],
      ['a newline', 'a\nb'],
      ['DEL', 'a\u007fb'],
      ['"."', '.'],
      ['".."', '..'],
    ];
    it.each(bad)('refuses a filename with %s: 400 JSON, nothing created', async (_label, filename) => {
      const res = await expectNothingCreated(() => post({ 'Upload-Length': '10', 'Upload-Metadata': encodeMetadata({ filename, owner: 'x' }) }));
      expectJsonError(res, 400, 'InvalidArgument');
    });

    it.each(bad)('refuses an owner with %s: 400 JSON, nothing created', async (_label, owner) => {
      const res = await expectNothingCreated(() => post({ 'Upload-Length': '10', 'Upload-Metadata': encodeMetadata({ filename: 'f.bin', owner }) }));
      expectJsonError(res, 400, 'InvalidArgument');
    });

    it('refuses a bad segment also on a creation-with-upload POST, storing none of its bytes', async () => {
      const res = await expectNothingCreated(() =>
        post({ 'Upload-Length': '10', 'Upload-Metadata': encodeMetadata({ filename: '../escape', owner: 'x' }) }, randomData(10)),
      );
      expectJsonError(res, 400, 'InvalidArgument');
    });

    it('refuses a filename over 200 bytes and an owner over 64 bytes (counted in UTF-8 bytes)', async () => {
      for (const meta of [
        { filename: 'f'.repeat(201), owner: 'x' },
        { filename: 'é'.repeat(101), owner: 'x' }, // 101 characters, 202 bytes
        { filename: 'f.bin', owner: 'o'.repeat(65) },
        { filename: 'f.bin', owner: 'ö'.repeat(33) }, // 66 bytes
      ]) {
        const res = await expectNothingCreated(() => post({ 'Upload-Length': '10', 'Upload-Metadata': encodeMetadata(meta) }));
        expectJsonError(res, 400, 'InvalidArgument');
      }
    });

    it('accepts a filename of exactly 200 bytes and an owner of exactly 64', async () => {
      const prefix = `${uniqueName('x')}${'é'.repeat(50)}`; // multi-byte characters count as their bytes
      const exact = prefix + 'f'.repeat(200 - Buffer.byteLength(prefix));
      expect(Buffer.byteLength(exact)).toBe(200);
      const owner = 'o'.repeat(64);
      const data = randomData(10);
      const res = await post({ 'Upload-Length': '10', 'Upload-Metadata': encodeMetadata({ filename: exact, owner }) }, data);
      expect(res.status, res.text).toBe(201);
      const key = `models/${owner}/${exact}`;
      expect(res.headers['object-key']).toBe(key.split('/').map(encodeURIComponent).join('/'));
      expect((await raw(gw.url + objectPath(key))).body.equals(data)).toBe(true);
    });
  });

  describe('defaults', () => {
    it('uses the upload id as the file name when filename is absent', async () => {
      const data = randomData(10);
      const res = await post({ 'Upload-Length': '10', 'Upload-Metadata': encodeMetadata({ owner: 'noname' }) }, data);
      expect(res.status, res.text).toBe(201);
      const id = String(res.headers.location).split('/').pop()!;
      expect(res.headers['object-key']).toBe(`models/noname/${id}`);
      expect((await objectInfo(gw.url, `models/noname/${id}`))!.metadata).toMatchObject({ owner: 'noname', filename: id, uploadId: id });
    });

    it('uses the upload id when there is no Upload-Metadata at all, and anonymous as the owner', async () => {
      const res = await post({ 'Upload-Length': '5' }, randomData(5));
      expect(res.status, res.text).toBe(201);
      const id = String(res.headers.location).split('/').pop()!;
      expect(res.headers['object-key']).toBe(`models/anonymous/${id}`);
    });

    it('uses anonymous for an empty owner (a bare key) and keeps every other key as metadata', async () => {
      const filename = uniqueName('anon');
      const res = await post(
        { 'Upload-Length': '5', 'Upload-Metadata': `filename ${Buffer.from(filename).toString('base64')},owner,filetype ${Buffer.from('text/plain').toString('base64')},note ${Buffer.from('hello').toString('base64')}` },
        Buffer.from('hello'),
      );
      expect(res.status, res.text).toBe(201);
      expect(res.headers['object-key']).toBe(`models/anonymous/${filename}`);
      const info = await objectInfo(gw.url, `models/anonymous/${filename}`);
      expect(info!.contentType).toBe('text/plain');
      expect(info!.metadata).toMatchObject({ filename, owner: 'anonymous', filetype: 'text/plain', note: 'hello' });
    });
  });

  describe('malformed Upload-Metadata', () => {
    it.each([
      ['a value that is not base64', 'filename !!!notbase64'],
      ['three parts in a pair', 'filename YQ== YQ=='],
      ['an empty pair', 'filename YQ==,,owner Yg=='],
      ['a duplicate key', 'filename YQ==,filename Yg=='],
      ['a key with a non-ASCII character', 'fïlename YQ=='],
    ])('refuses %s with 400 and creates nothing', async (_label, header) => {
      const res = await expectNothingCreated(() => post({ 'Upload-Length': '10', 'Upload-Metadata': header }));
      expectJsonError(res, 400);
    });

    it('refuses a header over tus.maxMetadataSize (4 KiB) with 400', async () => {
      const header = encodeMetadata({ filename: 'f.bin', note: 'n'.repeat(6000) });
      const res = await expectNothingCreated(() => post({ 'Upload-Length': '10', 'Upload-Metadata': header }));
      expectJsonError(res, 400);
    });

    it('refuses a header over the server header limit (16 KiB) with 431, never 500, and stays up', async () => {
      const header = encodeMetadata({ filename: 'f.bin', note: 'n'.repeat(20_000) });
      const res = await expectNothingCreated(() => post({ 'Upload-Length': '10', 'Upload-Metadata': header }));
      expect([400, 431]).toContain(res.status);
      expect((await raw(`${gw.url}/healthz`)).status).toBe(200);
    });

    it('refuses many small keys adding up past the limit with 400', async () => {
      const meta: Record<string, string> = { filename: 'f.bin' };
      for (let i = 0; i < 600; i++) meta[`k${i}`] = 'v';
      const res = await expectNothingCreated(() => post({ 'Upload-Length': '10', 'Upload-Metadata': encodeMetadata(meta) }));
      expectJsonError(res, 400);
    });
  });

  describe('Upload-Length', () => {
    it('answers 413 to an Upload-Length over tus.maxSize and creates nothing', async () => {
      const res = await expectNothingCreated(() => post({ 'Upload-Length': String(MAX_SIZE + 1) }));
      expect(res.status).toBe(413);
    });

    it('accepts an Upload-Length of exactly tus.maxSize', async () => {
      const { url } = await createUpload(gw.url, { length: MAX_SIZE, metadata: { filename: uniqueName('max') } });
      expect((await head(url)).headers['upload-length']).toBe(String(MAX_SIZE));
      expect((await raw(url, { method: 'DELETE', headers: tusHeaders() })).status).toBe(204);
    });

    it.each([
      ['negative', { 'Upload-Length': '-1' }],
      ['not a number', { 'Upload-Length': 'abc' }],
      ['fractional', { 'Upload-Length': '1.5' }],
      ['absent, without Upload-Defer-Length', {}],
      ['given together with Upload-Defer-Length', { 'Upload-Length': '10', 'Upload-Defer-Length': '1' }],
      ['deferred with a value other than 1', { 'Upload-Defer-Length': '2' }],
    ])('refuses a POST whose length is %s with 400 and creates nothing', async (_label, headers) => {
      const res = await expectNothingCreated(() => post(headers as Record<string, string>));
      expect(res.status, res.text).toBe(400);
      expect(res.json?.error?.code).toBeTypeOf('string');
    });

    it('answers 413 when a deferred length is declared over tus.maxSize, keeping the upload as it was', async () => {
      const { url } = await createUpload(gw.url, { deferLength: true, metadata: { filename: uniqueName('defer-big') } });
      const res = await patch(url, 0, Buffer.alloc(0), { 'Upload-Length': String(MAX_SIZE + 1) });
      expect(res.status).toBe(413);
      const h = await head(url);
      expect(h.headers['upload-defer-length']).toBe('1');
      expect(h.headers['upload-offset']).toBe('0');
    });
  });

  describe('PATCH headers', () => {
    it('answers 409 to a PATCH whose Upload-Offset is not the current offset, storing nothing', async () => {
      const { url } = await createUpload(gw.url, { length: 100, metadata: { filename: uniqueName('offset') } });
      expect((await patch(url, 0, randomData(10))).status).toBe(204);
      for (const offset of [0, 5, 20, 100]) expect((await patch(url, offset, randomData(10))).status, String(offset)).toBe(409);
      expect((await head(url)).headers['upload-offset']).toBe('10');
    });

    it.each([
      ['missing', undefined],
      ['negative', '-1'],
      ['not a number', 'ten'],
    ])('refuses a PATCH whose Upload-Offset is %s with a 4xx JSON error', async (_label, offset) => {
      const { url } = await createUpload(gw.url, { length: 100, metadata: { filename: uniqueName('offset-bad') } });
      const res = await raw(url, {
        method: 'PATCH',
        headers: tusHeaders({ 'Content-Type': OCTETS, ...(offset !== undefined ? { 'Upload-Offset': offset } : {}) }),
        body: randomData(10),
      });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.json?.error?.code).toBeTypeOf('string');
      expect((await head(url)).headers['upload-offset']).toBe('0');
    });

    it('refuses an X-HTTP-Method-Override naming an unknown method with 400', async () => {
      const res = await expectNothingCreated(() => raw(`${gw.url}/files`, { method: 'POST', headers: tusHeaders({ 'X-HTTP-Method-Override': 'PUT', 'Upload-Length': '1' }) }));
      expectJsonError(res, 400);
    });
  });

  it("answers @tus/server's own errors (404, 409, 413) as JSON with Content-Type application/json", async () => {
    const { url } = await createUpload(gw.url, { length: 10, metadata: { filename: uniqueName('json') } });
    expectJsonError(await patch(`${gw.url}/files/unknown0123456789abcdef`, 0, randomData(1)), 404);
    expectJsonError(await patch(url, 5, randomData(1)), 409);
    expectJsonError(await patch(url, 0, randomData(11)), 413);
  });

  it('never answers 500 to a POST with a bad Host header, and stays up', async () => {
    const res = await raw(`${gw.url}/files`, { method: 'POST', headers: tusHeaders({ Host: '127.0.0.1:99999', 'Upload-Length': '1' }) });
    expect(res.status).toBeLessThan(500);
    expect((await raw(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('is still alive after all of the above', async () => {
    expect((await raw(`${gw.url}/healthz`)).status).toBe(200);
  });
});
