/**
 * The s3 datastore's write path (server/tus/s3-parts.ts) against the real Ceph RGW the test
 * set-up starts: parts from memory (no temporary file), bounded in flight and read ahead, the
 * `.part` tail kept until the part that carries its bytes is stored, parts after a gap not
 * counted, and @tus/s3-store's layout (an upload it began resumes here).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { S3Store as OriginalS3Store, type MetadataValue } from '@tus/s3-store';
import { MemoryKvStore, Upload } from '@tus/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../server/storage/s3-client.ts';
import { BufferedS3Store } from '../../server/tus/s3-parts.ts';
import { ResumableSha256 } from '../../server/tus/sha256-state.ts';
import { createTestBucket, s3TestSettings } from '../support/services.ts';

const MiB = 2 ** 20;
const PART = 5 * MiB; // the S3 minimum: the smallest parts, the quickest test

const bytesOf = (n: number, seed: number): Buffer => {
  const out = Buffer.alloc(n);
  for (let i = 0, x = seed; i < n; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
};
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** `data` as a stream of 64 KiB chunks, as a socket delivers a PATCH body; counts what was read. */
function body(data: Buffer, read = { bytes: 0 }): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= data.length) return void this.push(null);
      const chunk = data.subarray(at, at + 64 * 1024);
      at += chunk.length;
      read.bytes = at;
      this.push(chunk);
    },
  });
}

let bucket: string;
const settings = () => {
  const s = s3TestSettings();
  return { ...s, bucket, publicEndpoint: '', forcePathStyle: true, checksums: 'when_required' as const, tusPrefix: '.tus/' };
};
const client = () => createS3Client(settings());
const storeWith = (c = client(), partsInFlight = 2) =>
  new BufferedS3Store({ client: c, bucket, partSize: PART, partsInFlight, maxConcurrentPartUploads: 16, cache: new MemoryKvStore<MetadataValue>() });
/** A client that records the name of every command it sends, in order. */
function recordingClient(): { c: ReturnType<typeof client>; commands: string[] } {
  const c = client();
  const commands: string[] = [];
  c.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(context.commandName ?? '?');
      return next(args);
    },
    { step: 'initialize', name: 'listCommands' },
  );
  return { c, commands };
}
let n = 0;
const newId = () => `.tus/parts-${Date.now().toString(36)}-${n++}`;

async function objectBytes(key: string): Promise<Buffer> {
  const out = await client().getObject({ Bucket: bucket, Key: key });
  return Buffer.from(await out.Body!.transformToByteArray());
}

describe('s3 datastore write path (BufferedS3Store)', () => {
  let tmp: string;
  const savedTmp = process.env.TMPDIR;

  beforeAll(async () => {
    bucket = await createTestBucket('s3-parts');
    // os.tmpdir() follows TMPDIR: whatever a write spools to disk lands here.
    tmp = await mkdtemp(join(tmpdir(), 's3-parts-tmp-'));
    process.env.TMPDIR = tmp;
  });
  afterAll(async () => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    await rm(tmp, { recursive: true, force: true });
  });

  it('writes in several PATCHes byte-exact, the tail in `.part`, and never a temporary file', async () => {
    const store = storeWith();
    const id = newId();
    const data = bytesOf(13 * MiB + 12345, 1);
    await store.create(new Upload({ id, size: data.length, offset: 0 }));
    let spooled = 0;
    const watch = setInterval(() => void readdir(tmp).then((f) => (spooled = Math.max(spooled, f.length))), 5);
    try {
      // 3 MiB: below a part, so the tail object; 4 MiB more: part 1 (5 MiB) and a 2 MiB tail; then the rest.
      const cuts = [0, 3 * MiB, 7 * MiB, data.length];
      for (let i = 1; i < cuts.length; i++) {
        const offset = await store.write(body(data.subarray(cuts[i - 1], cuts[i])), id, cuts[i - 1]!);
        expect(offset).toBe(cuts[i]);
        expect((await store.getUpload(id)).offset).toBe(cuts[i]);
      }
    } finally {
      clearInterval(watch);
    }
    expect(spooled).toBe(0);
    expect(await readdir(tmp)).toEqual([]);
    expect(sha256(await objectBytes(id))).toBe(sha256(data));
    await expect(client().headObject({ Bucket: bucket, Key: `${id}.part` })).rejects.toMatchObject({ name: 'NotFound' });
  });

  it('the same write through @tus/s3-store itself spools to disk (what the test above rules out)', async () => {
    const original = new OriginalS3Store({ partSize: PART, s3ClientConfig: { ...settings(), bucket, region: settings().region,
      endpoint: settings().endpoint, forcePathStyle: true, credentials: { accessKeyId: settings().accessKey, secretAccessKey: settings().secretKey },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } });
    const id = newId();
    const data = bytesOf(6 * MiB, 2);
    await original.create(new Upload({ id, size: data.length, offset: 0 }));
    let spooled = 0;
    const watch = setInterval(() => void readdir(tmp).then((f) => (spooled = Math.max(spooled, f.length))), 2);
    try {
      await original.write(body(data), id, 0);
    } finally {
      clearInterval(watch);
    }
    expect(spooled).toBeGreaterThan(0);
  });

  it('holds at most partsInFlight parts in flight and reads at most one part more ahead', async () => {
    const c = client();
    let inFlight = 0;
    let maxInFlight = 0;
    let stored = 0;
    let maxAhead = 0;
    const read = { bytes: 0 };
    c.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'UploadPartCommand') return next(args);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        maxAhead = Math.max(maxAhead, read.bytes - stored);
        try {
          const out = await next(args);
          stored += ((args.input as { Body: Buffer }).Body).length;
          return out;
        } finally {
          inFlight--;
        }
      },
      { step: 'initialize', name: 'countParts' },
    );
    const store = storeWith(c, 2);
    const id = newId();
    const data = bytesOf(8 * PART, 3);
    await store.create(new Upload({ id, size: data.length, offset: 0 }));
    expect(await store.write(body(data, read), id, 0)).toBe(data.length);
    expect(maxInFlight).toBeGreaterThan(0);
    expect(maxInFlight).toBeLessThanOrEqual(2);
    // Sent or being sent: 2 parts; filling: a third; the chunk in hand on top.
    expect(maxAhead).toBeLessThanOrEqual(3 * PART + 64 * 1024);
    expect(sha256(await objectBytes(id))).toBe(sha256(data));
  });

  it('a `.part` whose part is stored (a crash between the two) is not counted, and the upload goes on byte-exact', async () => {
    const store = storeWith();
    const id = newId();
    const data = bytesOf(2 * PART + 777, 4);
    await store.create(new Upload({ id, size: data.length, offset: 0 }));
    expect(await store.write(body(data.subarray(0, 2 * MiB)), id, 0)).toBe(2 * MiB);
    // What a kill -9 leaves after part 1 (which carries the tail's 2 MiB) was stored and before the tail was deleted.
    const tail = await objectBytes(`${id}.part`);
    const head = await client().headObject({ Bucket: bucket, Key: `${id}.part` });
    expect(head.Metadata?.['tus-opens-part']).toBe('1');
    expect(await store.write(body(data.subarray(2 * MiB, PART)), id, 2 * MiB)).toBe(PART);
    await expect(client().headObject({ Bucket: bucket, Key: `${id}.part` })).rejects.toMatchObject({ name: 'NotFound' });
    await client().putObject({ Bucket: bucket, Key: `${id}.part`, Body: tail, Metadata: { 'tus-opens-part': '1' } });
    // Counted once, in part 1: not again from the stale tail.
    expect((await store.getUpload(id)).offset).toBe(PART);
    expect(await store.write(body(data.subarray(PART)), id, PART)).toBe(data.length);
    expect(sha256(await objectBytes(id))).toBe(sha256(data));
    await expect(client().headObject({ Bucket: bucket, Key: `${id}.part` })).rejects.toMatchObject({ name: 'NotFound' });
  });

  it('counts only the parts 1, 2, 3 … without a gap', async () => {
    const store = storeWith();
    const id = newId();
    const data = bytesOf(3 * PART, 5);
    await store.create(new Upload({ id, size: data.length, offset: 0 }));
    expect(await store.write(body(data.subarray(0, PART)), id, 0)).toBe(PART);
    // Part 3 stored while part 2 failed (as parallel parts can): its bytes have no place yet.
    const info = await client().headObject({ Bucket: bucket, Key: `${id}.info` });
    await client().uploadPart({ Bucket: bucket, Key: id, UploadId: info.Metadata!['upload-id'], PartNumber: 3, Body: data.subarray(2 * PART) });
    expect((await store.getUpload(id)).offset).toBe(PART);
    expect(await store.write(body(data.subarray(PART)), id, PART)).toBe(data.length);
    expect(sha256(await objectBytes(id))).toBe(sha256(data));
  });

  it('from offset 0 lists and fetches nothing; the hash gets exactly the stored bytes; a body cut midway keeps what arrived, then throws', async () => {
    const { c, commands } = recordingClient();
    const store = storeWith(c);
    const data = bytesOf(2 * PART + 3 * MiB + 77, 11);

    // One PATCH with the whole upload: its parts, then CompleteMultipartUpload with the ETags it got.
    const whole = newId();
    await store.create(new Upload({ id: whole, size: data.length, offset: 0 }));
    commands.length = 0;
    expect(await store.write(body(data), whole, 0)).toBe(data.length);
    expect(commands.filter((x) => x === 'UploadPartCommand')).toHaveLength(3);
    expect(commands).toContain('CompleteMultipartUploadCommand');
    // Before the first part, nothing: create() cached the `.info` it wrote; no listing, no `.part` GET.
    expect(commands.slice(0, commands.indexOf('UploadPartCommand'))).toEqual([]);
    expect(commands).not.toContain('ListPartsCommand');
    expect(sha256(await objectBytes(whole))).toBe(sha256(data));

    // A body that fails after one part and 2 MiB + 100 bytes more: both are stored, the error is thrown.
    const id = newId();
    await store.create(new Upload({ id, size: data.length, offset: 0 }));
    const cut = PART + 2 * MiB + 100;
    let at = 0;
    const failing = new Readable({
      read() {
        if (at >= cut) return void this.destroy(new Error('client went away'));
        const chunk = data.subarray(at, Math.min(at + 64 * 1024, cut));
        at += chunk.length;
        this.push(chunk);
      },
    });
    const hash = await ResumableSha256.create();
    await expect(store.write(failing, id, 0, hash)).rejects.toThrow('client went away');
    expect((await store.getUpload(id)).offset).toBe(cut);
    await hash.settled();
    expect(hash.offset).toBe(cut);
    // The rest: the tail's bytes go into part 2 unhashed (the hash has them), the new ones hashed.
    expect(await store.write(body(data.subarray(cut)), id, cut, hash)).toBe(data.length);
    await hash.settled();
    expect(hash.offset).toBe(data.length);
    expect(hash.digest()).toBe(sha256(data));
    expect(sha256(await objectBytes(id))).toBe(sha256(data));
  });

  it('an upload just created reads as offset 0 without S3, until a write begins; instances sharing the cache agree, a new one lists', async () => {
    const cache = new MemoryKvStore<MetadataValue>();
    const make = () => {
      const { c, commands } = recordingClient();
      const store = new BufferedS3Store({ client: c, bucket, partSize: PART, partsInFlight: 2, maxConcurrentPartUploads: 16, cache });
      return { store, commands };
    };
    const a = make();
    const b = make();
    const id = newId();
    const data = bytesOf(PART + 2 * MiB, 12);
    await a.store.create(new Upload({ id, size: data.length, offset: 0 }));
    a.commands.length = 0;
    expect((await b.store.getUpload(id)).offset).toBe(0);
    expect(a.commands).toEqual([]);
    expect(b.commands).toEqual([]);
    // B writes a part and a tail; A, sharing the cache, must not read the upload as fresh any more.
    expect(await b.store.write(body(data.subarray(0, PART + MiB)), id, 0)).toBe(PART + MiB);
    expect((await a.store.getUpload(id)).offset).toBe(PART + MiB);
    expect(a.commands).toContain('ListPartsCommand');
    // A process started afresh (its cache empty) reads the `.info` and lists.
    const fresh = storeWith();
    expect((await fresh.getUpload(id)).offset).toBe(PART + MiB);
    expect(await a.store.write(body(data.subarray(PART + MiB)), id, PART + MiB)).toBe(data.length);
    expect(sha256(await objectBytes(id))).toBe(sha256(data));
  });

  it('reuses its part buffers without mixing uploads, and a completed upload reads as complete without listing its parts', async () => {
    const { c, commands } = recordingClient();
    const store = storeWith(c);
    for (const seed of [7, 8]) {
      const id = newId();
      // Not whole parts: the last part is shorter than what its reused buffer held before.
      const data = bytesOf(3 * PART + 4321 * seed, seed);
      await store.create(new Upload({ id, size: data.length, offset: 0 }));
      expect(await store.write(body(data), id, 0)).toBe(data.length);
      expect(sha256(await objectBytes(id))).toBe(sha256(data));
      // Marked complete by write(): finalization's reads need no S3 request.
      commands.length = 0;
      expect((await store.getUpload(id)).offset).toBe(data.length);
      expect(await store.completed(id)).toBe(true);
      expect(commands).toEqual([]);
    }
  });

  it('resumes an upload that @tus/s3-store itself began (same layout on S3)', async () => {
    const s = settings();
    const original = new OriginalS3Store({ partSize: PART, s3ClientConfig: { bucket, region: s.region, endpoint: s.endpoint, forcePathStyle: true,
      credentials: { accessKeyId: s.accessKey, secretAccessKey: s.secretKey }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } });
    const id = newId();
    const data = bytesOf(PART + 3 * MiB, 6);
    await original.create(new Upload({ id, size: data.length, offset: 0 }));
    // 6 MiB: part 1 and a 1 MiB `.part` without the gateway's part number.
    expect(await original.write(body(data.subarray(0, PART + MiB)), id, 0)).toBe(PART + MiB);
    const store = storeWith();
    expect((await store.getUpload(id)).offset).toBe(PART + MiB);
    expect(await store.write(body(data.subarray(PART + MiB)), id, PART + MiB)).toBe(data.length);
    expect(sha256(await objectBytes(id))).toBe(sha256(data));
  });
});
