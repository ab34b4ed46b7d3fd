/**
 * What only the S3 Store has: the wire form of metadata, multipart copy, SDK error
 * translation, real SigV4 presigned URLs. The shared behaviour is in store.contract.ts.
 * Runs against the real Ceph RGW the test set-up starts.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { HeadObjectCommand, ListMultipartUploadsCommand, PutObjectCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../server/config.ts';
import { GatewayError, type ErrorCode } from '../../server/errors.ts';
import { createS3Client } from '../../server/storage/s3-client.ts';
import { NAMES_KEY, decodeMetadataValue, encodeMetadataValue } from '../../server/storage/s3-metadata.ts';
import { copyObjectMultipart, createS3Store, fromS3Error, type S3Store, type S3StoreOptions } from '../../server/storage/s3.ts';
import { createTestBucket, s3TestSettings } from '../support/services.ts';

const MiB = 2 ** 20;

/** The storage.s3 section of a Config for the test S3. */
function s3Config(): Config['storage']['s3'] {
  const s = s3TestSettings();
  const { endpoint, region, accessKey, secretKey } = s;
  return { endpoint, publicEndpoint: '', bucket: 'unused', region, forcePathStyle: true, checksums: 'when_required', accessKey, secretKey, tusPrefix: '.tus/' };
}
const clientFor = (checksums: 'when_required' | 'when_supported' = 'when_required', secretKey?: string): S3Client =>
  createS3Client({ ...s3Config(), checksums, ...(secretKey ? { secretKey } : {}) });

const bytesOf = (n: number, seed: number): Buffer => {
  const out = Buffer.alloc(n);
  for (let i = 0, x = seed; i < n; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
};
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const readAll = async (r: Readable): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};

async function expectGatewayError(p: Promise<unknown>, code: ErrorCode): Promise<GatewayError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  expect(err).not.toBeInstanceOf(S3ServiceException);
  expect((err as GatewayError).code).toBe(code);
  return err as GatewayError;
}

describe('S3Store on a real S3 (Ceph RGW)', { timeout: 60_000 }, () => {
  let client: S3Client;
  let bucket: string;
  let store: S3Store;
  const make = (options: Partial<S3StoreOptions> = {}): S3Store => createS3Store({ client, bucket, ...options });
  const rawHead = (key: string) => client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const pendingMultipart = async (prefix: string): Promise<number> =>
    (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }))).Uploads?.length ?? 0;

  beforeAll(async () => {
    bucket = await createTestBucket('s3store');
    client = clientFor();
    store = make();
  }, 120_000);
  afterAll(() => client?.destroy());

  describe('metadata on the wire', () => {
    it('sends UTF-8 values as RFC 2047 words and camelCase names lowercased, and reads both back exactly', async () => {
      const metadata = { filename: 'модель — 🚀 final version with a long name.onnx', uploadId: 'u-1', plain: 'ascii only' };
      await store.put('meta/utf8.onnx', Readable.from([Buffer.from('x')]), { metadata });
      const raw = (await rawHead('meta/utf8.onnx')).Metadata ?? {};
      // What other S3 tools see: header-safe ASCII, S3's lowercase names.
      expect(raw.filename).toMatch(/^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=( =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=)+$/);
      expect(raw.uploadid).toBe('u-1');
      expect(raw.plain).toBe('ascii only');
      expect(JSON.parse(raw[NAMES_KEY]!)).toEqual({ uploadid: 'uploadId' });
      expect((await store.stat('meta/utf8.onnx')).metadata).toEqual(metadata);
    });

    it('reads values that other writers encoded: AWS-style Q and B words, raw UTF-8 bytes', async () => {
      const metadata = { q: '=?utf-8?Q?J=C3=B6rg_M=C3=BCller?=', b: '=?UTF-8?B?0LzQvg==?= =?UTF-8?B?0LTQtdC70Yw=?=', plain: 'a =? b' };
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'meta/foreign', Body: 'x', Metadata: metadata }));
      expect((await store.stat('meta/foreign')).metadata).toEqual({ q: 'Jörg Müller', b: 'модель', plain: 'a =? b' });
    });

    it('encodes exactly the values a header would change, and never splits a character between words', () => {
      for (const v of ['plain', '', ' edge', 'edge ', 'tab\there', 'line\nbreak', 'looks =?like?= a word', 'é'.repeat(100), '🚀'.repeat(40)]) {
        const wire = encodeMetadataValue(v);
        expect(wire).toMatch(/^[\x20-\x7e]*$/);
        expect(decodeMetadataValue(wire)).toBe(v);
        for (const word of wire.split(' ').filter((w) => w.startsWith('=?'))) {
          expect(word.length).toBeLessThanOrEqual(75);
          expect(Buffer.from(word.slice(10, -2), 'base64').toString('utf8')).not.toContain('\ufffd');
        }
      }
      expect(encodeMetadataValue('plain')).toBe('plain');
    });

    it('keeps keys that are no header name, differ only in case, or use the reserved prefix', async () => {
      const metadata = { 'a/b:c': '1', Name: '2', name: '3', 'ugw-names': '4', 'ünï': '5' };
      const info = await store.put('meta/odd-keys', Readable.from([Buffer.from('x')]), { metadata });
      expect(info.metadata).toEqual(metadata);
      expect((await store.list({ prefix: 'meta/odd-keys' })).objects[0]?.metadata).toEqual(metadata);
    });

    it('leaves no stale name map when a copy replaces camelCase metadata with lowercase names', async () => {
      await store.put('meta/cc-src', Readable.from([Buffer.from('data')]), { metadata: { uploadId: 'u-9', sha256: 'abc' } });
      const info = await store.copy('meta/cc-src', 'meta/cc-dst', { metadata: { owner: 'jörg' } });
      expect(info.metadata).toEqual({ owner: 'jörg' });
      expect(Object.keys((await rawHead('meta/cc-dst')).Metadata ?? {})).toEqual(['owner']);
      // COPY keeps the map: names survive a plain copy.
      expect((await store.copy('meta/cc-src', 'meta/cc-plain')).metadata).toEqual({ uploadId: 'u-9', sha256: 'abc' });
    });
  });

  describe('multipart copy (UploadPartCopy)', () => {
    it('copies a source above the threshold in parts, with the content type and metadata, or replaced ones', async () => {
      const small = make({ multipartCopyThreshold: 5 * MiB, copyPartSize: 5 * MiB });
      const bytes = bytesOf(12 * MiB + 12_345, 7);
      const metadata = { filename: 'große Datei.bin', uploadId: 'abc' };
      await small.put('mpc/src', Readable.from([bytes]), { contentType: 'application/x-onnx', metadata });

      const kept = await small.copy('mpc/src', 'mpc/kept');
      expect(kept).toMatchObject({ size: bytes.length, contentType: 'application/x-onnx', metadata });
      expect(kept.etag).toMatch(/^"[0-9a-f]{32}-3"$/); // three parts: 5 + 5 + 2 MiB
      expect(sha256(await readAll((await small.get('mpc/kept')).body))).toBe(sha256(bytes));

      const replaced = await small.copy('mpc/src', 'mpc/replaced', { metadata: { v: '2' } });
      expect(replaced).toMatchObject({ size: bytes.length, contentType: 'application/x-onnx', metadata: { v: '2' } });
      expect(await pendingMultipart('mpc/')).toBe(0);
    });

    it('aborts the multipart upload when a part fails, leaving nothing behind', async () => {
      // The source vanishes between the HEAD and the part copies: every UploadPartCopy fails.
      const copying = copyObjectMultipart(client, {
        bucket,
        from: 'mpc-fail/gone',
        to: 'mpc-fail/dst',
        size: 11 * MiB,
        partSize: 5 * MiB,
        concurrency: 2,
      });
      await expectGatewayError(copying, 'NoSuchKey');
      expect(await pendingMultipart('mpc-fail/')).toBe(0);
      await expectGatewayError(store.stat('mpc-fail/dst'), 'NoSuchKey');
    });
  });

  it('aborts the multipart upload of a streamed put whose length differs from its declared size', async () => {
    const chunks = Array.from({ length: 20 }, (_, i) => bytesOf(MiB, i)); // 20 MiB: three 8 MiB parts
    await expectGatewayError(store.put('put-short/obj', Readable.from(chunks), { size: 30 * MiB }), 'InvalidArgument');
    await expectGatewayError(store.put('put-long/obj', Readable.from(chunks), { size: 10 * MiB }), 'InvalidArgument');
    expect(await pendingMultipart('put-')).toBe(0);
    await expectGatewayError(store.stat('put-short/obj'), 'NoSuchKey');
    await expectGatewayError(store.stat('put-long/obj'), 'NoSuchKey');
  });

  describe('the hidden prefix (the tus datastore\'s incomplete uploads) is not objects', () => {
    const s = () => make({ hiddenPrefix: 'hide/.tus/' });
    const hidden = ['hide/.tus/upload-1', 'hide/.tus/upload-1.info', 'hide/.tus/upload-2.info'];
    beforeAll(async () => {
      // Written around the Store, as the tus datastore writes them.
      for (const k of [...hidden, 'hide/.a', 'hide/.tur', 'hide/.tus0', 'hide/z']) {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }));
      }
    });

    it('lists around them, and every cursor is a visible key, even for a prefix that covers them', async () => {
      expect((await s().list({ prefix: 'hide/' })).objects.map((o) => o.key)).toEqual(['hide/.a', 'hide/.tur', 'hide/.tus0', 'hide/z']);
      for (const prefix of ['hide/', 'hide/.', 'hide/.tu', 'hide/.tus', 'hi', '']) {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await s().list({ prefix, limit: 1, ...(cursor ? { cursor } : {}) });
          seen.push(...page.objects.map((o) => o.key));
          cursor = page.nextCursor;
          if (cursor) expect(Buffer.from(cursor, 'base64url').toString(), prefix).not.toContain('.tus/');
        } while (cursor);
        expect(seen.every((k) => !k.includes('.tus/')), prefix).toBe(true);
        expect(seen.length, prefix).toBeGreaterThan(0);
      }
      // The page after hide/.tur is hide/.tus0: full, not cut short by the hidden keys between.
      const after = await s().list({ prefix: 'hide/', limit: 1, cursor: Buffer.from('hide/.tur').toString('base64url') });
      expect(after.objects.map((o) => o.key)).toEqual(['hide/.tus0']);
      expect((await s().list({ prefix: 'hide/.tus/' })).objects).toEqual([]);
      expect((await s().list({ prefix: 'hide/.tus/upload-1' })).objects).toEqual([]);
      await expectGatewayError(s().list({ cursor: Buffer.from('hide/.tus/upload-1').toString('base64url') }), 'InvalidArgument');
      await expectGatewayError(s().list({ cursor: 'not a cursor!' }), 'InvalidArgument');
    });

    it('refuses them as keys: reads NoSuchKey; writes, deletes and presigns InvalidKey; copy may read them (finalization)', async () => {
      const store = s();
      for (const k of hidden) {
        await expectGatewayError(store.get(k), 'NoSuchKey');
        await expectGatewayError(store.stat(k), 'NoSuchKey');
        await expectGatewayError(store.delete(k), 'InvalidKey');
        await expectGatewayError(store.put(k, Readable.from([Buffer.from('x')])), 'InvalidKey');
        await expectGatewayError(store.copy('hide/z', k), 'InvalidKey');
        await expectGatewayError(store.presignedGetUrl(k, { expiresIn: 60 }), 'InvalidKey');
        await expectGatewayError(store.presignedPutUrl(k, { expiresIn: 60, size: 1 }), 'InvalidKey');
        await rawHead(k); // still there, untouched
      }
      const adopted = await store.copy('hide/.tus/upload-1', 'hide/adopted');
      expect(adopted.size).toBe('hide/.tus/upload-1'.length);
    });
  });

  describe('error translation', () => {
    it('answers a missing key with NoSuchKey, never an S3ServiceException', async () => {
      await expectGatewayError(store.get('missing/key'), 'NoSuchKey');
      await expectGatewayError(store.stat('missing/key'), 'NoSuchKey');
      await expectGatewayError(store.copy('missing/key', 'missing/copy'), 'NoSuchKey');
      await expectGatewayError(store.get('missing/key', { range: { start: 0, end: 1 } }), 'NoSuchKey');
    });

    it('answers a range past the end with InvalidRange and the size', async () => {
      await store.put('range/ten', Readable.from([Buffer.from('0123456789')]));
      const err = await expectGatewayError(store.get('range/ten', { range: { start: 10, end: 20 } }), 'InvalidRange');
      expect(err.headers['Content-Range']).toBe('bytes */10');
    });

    it('turns a missing bucket into GatewayErrors (InternalError; ServiceUnavailable for ping)', async () => {
      const lost = createS3Store({ client, bucket: `${bucket}-missing` });
      await expectGatewayError(lost.get('k'), 'InternalError');
      await expectGatewayError(lost.put('k', Readable.from([Buffer.from('x')])), 'InternalError');
      await expectGatewayError(lost.list(), 'InternalError');
      await expectGatewayError(lost.ping(), 'ServiceUnavailable');
      // HEAD answers carry no body: a missing bucket looks like a missing key.
      await expectGatewayError(lost.stat('k'), 'NoSuchKey');
    });

    it('turns wrong credentials and an unreachable endpoint into GatewayErrors', async () => {
      const wrong = clientFor('when_required', 'not-the-secret');
      try {
        const err = await expectGatewayError(createS3Store({ client: wrong, bucket }).get('k'), 'InternalError');
        expect(err.cause).toBeInstanceOf(S3ServiceException);
        await expectGatewayError(createS3Store({ client: wrong, bucket }).ping(), 'ServiceUnavailable');
      } finally {
        wrong.destroy();
      }
      const nowhere = createS3Client({ ...s3Config(), endpoint: 'http://127.0.0.1:9' });
      try {
        await expectGatewayError(createS3Store({ client: nowhere, bucket }).stat('k'), 'InternalError');
      } finally {
        nowhere.destroy();
      }
    });

    it('maps S3 error names as documented', () => {
      const e = (name: string) => Object.assign(new Error(name), { name });
      expect(fromS3Error(e('NoSuchKey'), 'a/b').message).toContain('a/b');
      expect(fromS3Error(e('AccessDenied')).code).toBe('AccessDenied');
      expect(fromS3Error(e('InvalidRange')).code).toBe('InvalidRange');
      expect(fromS3Error(e('SlowDown')).code).toBe('InternalError');
      expect(fromS3Error(e('SlowDown')).cause).toBeInstanceOf(Error);
      const own = new GatewayError('EntityTooLarge', 'x');
      expect(fromS3Error(own)).toBe(own);
    });
  });

  describe('presigned URLs (SigV4, checked by RGW)', () => {
    for (const checksums of ['when_required', 'when_supported'] as const) {
      it(`PUT with a real fetch stores the body with its content type (checksums ${checksums})`, async () => {
        const c = clientFor(checksums);
        try {
          const s = createS3Store({ client: c, bucket });
          const key = `presign/${checksums}/модель v1.onnx`;
          const body = bytesOf(100_000, 5);
          const { url } = await s.presignedPutUrl(key, { expiresIn: 60, contentType: 'application/x-onnx', size: body.length });
          expect(new URL(url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host');
          const res = await fetch(url, { method: 'PUT', body: new Uint8Array(body), headers: { 'Content-Type': 'application/x-onnx' } });
          expect(res.status).toBe(200);
          expect(await s.stat(key)).toMatchObject({ size: body.length, contentType: 'application/x-onnx' });
          const get = await fetch(await s.presignedGetUrl(key, { expiresIn: 60 }));
          expect(sha256(Buffer.from(await get.arrayBuffer()))).toBe(sha256(body));
        } finally {
          c.destroy();
        }
      });
    }

    it('refuses a PUT with another content type than signed, a tampered URL, and an unsigned one', async () => {
      const { url } = await store.presignedPutUrl('presign/strict', { expiresIn: 60, contentType: 'text/plain', size: 1 });
      expect((await fetch(url, { method: 'PUT', body: 'x', headers: { 'Content-Type': 'text/html' } })).status).toBe(403);
      const tampered = url.replace('presign/strict', 'presign/other');
      expect((await fetch(tampered, { method: 'PUT', body: 'x', headers: { 'Content-Type': 'text/plain' } })).status).toBe(403);
      expect((await fetch(url.split('?')[0]!, { method: 'PUT', body: 'x' })).status).toBe(403);
      await expectGatewayError(store.stat('presign/strict'), 'NoSuchKey');
      await expectGatewayError(store.presignedGetUrl('presign/strict', { expiresIn: 8 * 24 * 3600 }), 'InvalidArgument');
    });
  });
});
