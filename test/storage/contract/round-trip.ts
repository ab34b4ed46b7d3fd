import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../server/errors.ts';
import type { PutOptions } from '../../../server/storage/store.ts';
import { bodyOf, byteSorted, expectEtag, expectGatewayError, expectRecent, gatedBody, LARGE_TIMEOUT_MS, listKeys, type MakeStore, MiB, pseudoRandomBytes, pseudoRandomChunks, readAll, sampleRss, sha256, type StoreContractCaps, useContractStore } from './kit.ts';

/** The Store contract, round trips (docs/api.md §3). */
export function shouldRoundTrip(makeStore: MakeStore, caps: StoreContractCaps): void {
  describe('round trips', () => {
    const largeBytes = caps.largeObjectBytes ?? 200 * MiB;
    const maxRssGrowth = caps.maxRssGrowthBytes ?? 100 * MiB;
    const { store, ns } = useContractStore(makeStore);
    it('stores and returns an empty object, with or without a declared size', async () => {
      const p = ns();
      for (const [key, options] of [[`${p}/empty-sized`, { size: 0 }], [`${p}/empty-unsized`, {}]] as const) {
        const info = await store.put(key, bodyOf(Buffer.alloc(0)), options);
        expect(info).toMatchObject({ key, size: 0 });
        expectEtag(info.etag);
        expect((await store.stat(key)).size).toBe(0);
        const got = await store.get(key);
        expect(got.info.size).toBe(0);
        expect((await readAll(got.body)).length).toBe(0);
      }
    });

    it('stores and returns a small object with its size declared', async () => {
      const key = `${ns()}/small-sized.txt`;
      const bytes = Buffer.from('hello, object store\n');
      const info = await store.put(key, bodyOf(bytes), { size: bytes.length, contentType: 'text/plain' });
      expect(info).toMatchObject({ key, size: bytes.length, contentType: 'text/plain' });
      expect(info.metadata).toEqual({});
      expectEtag(info.etag);
      expectRecent(info.lastModified);
      const got = await store.get(key);
      expect(got.range).toBeUndefined();
      expect(got.info).toMatchObject({ key, size: bytes.length, contentType: 'text/plain', etag: info.etag });
      expect(await readAll(got.body)).toEqual(bytes);
    });

    it('stores and returns a small object sent in many chunks without a declared size', async () => {
      const key = `${ns()}/small-unsized.bin`;
      const bytes = pseudoRandomBytes(100_003, 3);
      const chunks: Buffer[] = [];
      for (let off = 0; off < bytes.length; off += 997) chunks.push(bytes.subarray(off, off + 997));
      const info = await store.put(key, Readable.from(chunks, { objectMode: false }));
      expect(info.size).toBe(bytes.length);
      expect(await readAll((await store.get(key)).body)).toEqual(bytes);
    });

    for (const declared of [true, false]) {
      it(
        `streams a ${largeBytes / MiB} MiB object in and out ${declared ? 'with' : 'without'} a declared size, its RSS growing by less than ${maxRssGrowth / MiB} MiB`,
        async () => {
          const key = `${ns()}/large ${declared ? 'sized' : 'unsized'}.bin`;
          const sent = createHash('sha256');
          let sentBytes = 0;
          const source = Readable.from(
            (function* () {
              for (const chunk of pseudoRandomChunks(largeBytes, declared ? 11 : 12)) {
                sent.update(chunk);
                sentBytes += chunk.length;
                yield chunk;
              }
            })(),
            { objectMode: false },
          );
          const rss = sampleRss();
          const received = createHash('sha256');
          let receivedBytes = 0;
          let growth: number;
          try {
            const options: PutOptions = declared ? { size: largeBytes, contentType: 'application/octet-stream' } : {};
            const info = await store.put(key, source, options);
            expect(sentBytes).toBe(largeBytes);
            expect(info.size).toBe(largeBytes);
            const got = await store.get(key);
            expect(got.info.size).toBe(largeBytes);
            for await (const chunk of got.body as AsyncIterable<Buffer>) {
              received.update(chunk);
              receivedBytes += chunk.length;
            }
          } finally {
            growth = rss.stop();
          }
          expect(receivedBytes).toBe(largeBytes);
          expect(received.digest('hex')).toBe(sent.digest('hex'));
          expect(growth, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`).toBeLessThan(maxRssGrowth);
          await store.delete(key);
        },
        LARGE_TIMEOUT_MS,
      );
    }

    it('refuses a body shorter or longer than its declared size with InvalidArgument and stores nothing', async () => {
      const p = ns();
      const bytes = Buffer.from('0123456789');
      await expectGatewayError(store.put(`${p}/short`, bodyOf(bytes), { size: 11 }), 'InvalidArgument');
      await expectGatewayError(store.put(`${p}/long`, bodyOf(bytes), { size: 9 }), 'InvalidArgument');
      await expectGatewayError(store.stat(`${p}/short`), 'NoSuchKey');
      await expectGatewayError(store.stat(`${p}/long`), 'NoSuchKey');
      expect(await listKeys(store, `${p}/`)).toEqual([]);
    });

    it('keeps the previous object when a put with a wrong declared size is refused', async () => {
      const key = `${ns()}/kept`;
      const old = await store.put(key, bodyOf(Buffer.from('old content')), { contentType: 'text/plain' });
      await expectGatewayError(store.put(key, bodyOf(Buffer.from('new')), { size: 100 }), 'InvalidArgument');
      expect(await store.stat(key)).toMatchObject({ size: old.size, etag: old.etag, contentType: 'text/plain' });
      expect((await readAll((await store.get(key)).body)).toString()).toBe('old content');
    });

    it('rejects with a GatewayError and keeps the previous object when the body stream fails midway', async () => {
      const p = ns();
      const key = `${p}/failing`;
      const old = await store.put(key, bodyOf(Buffer.from('survivor')));
      const failing = Readable.from(
        (async function* () {
          yield pseudoRandomBytes(6 * MiB, 5);
          await sleep(20);
          throw new Error('client went away');
        })(),
        { objectMode: false },
      );
      const err = await store.put(key, failing).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect(await store.stat(key)).toMatchObject({ size: old.size, etag: old.etag });
      expect((await readAll((await store.get(key)).body)).toString()).toBe('survivor');
      expect(await listKeys(store, `${p}/`)).toEqual([key]);
    });

    it('serves the previous object whole while a put is in progress, and shows no half-written object', async () => {
      const p = ns();
      const key = `${p}/replaced`;
      const fresh = `${p}/new`;
      const old = await store.put(key, bodyOf(Buffer.from('version 1')), { contentType: 'text/plain' });
      // 17 MiB before the pause: more than two S3 parts of 8 MiB, so a multipart upload is under way.
      const v2 = pseudoRandomBytes(18 * MiB, 21);
      const gatedReplace = gatedBody(v2.subarray(0, 17 * MiB), v2.subarray(17 * MiB));
      const gatedNew = gatedBody(v2.subarray(0, 17 * MiB), v2.subarray(17 * MiB));
      const replacing = store.put(key, gatedReplace.body, { size: v2.length });
      const creating = store.put(fresh, gatedNew.body);
      await Promise.all([gatedReplace.waitForGate(), gatedNew.waitForGate()]);
      await sleep(200); // let the stores write what they have (temporary files, multipart parts)

      expect(await store.stat(key)).toMatchObject({ size: old.size, etag: old.etag });
      expect((await readAll((await store.get(key)).body)).toString()).toBe('version 1');
      await expectGatewayError(store.stat(fresh), 'NoSuchKey');
      await expectGatewayError(store.get(fresh), 'NoSuchKey');
      expect(await listKeys(store, `${p}/`)).toEqual([key]);

      gatedReplace.release();
      gatedNew.release();
      expect((await replacing).size).toBe(v2.length);
      expect((await creating).size).toBe(v2.length);
      expect(sha256(await readAll((await store.get(key)).body))).toBe(sha256(v2));
      expect(sha256(await readAll((await store.get(fresh)).body))).toBe(sha256(v2));
      expect(await listKeys(store, `${p}/`)).toEqual(byteSorted([key, fresh]));
    });

    it('lets a reader that opened an object finish reading it after the object is replaced', async () => {
      const key = `${ns()}/reader`;
      const v1 = pseudoRandomBytes(4 * MiB, 31);
      await store.put(key, bodyOf(v1));
      const reading = await store.get(key);
      await store.put(key, bodyOf(pseudoRandomBytes(4 * MiB, 32)));
      const bytes = await readAll(reading.body);
      expect(bytes.length).toBe(reading.info.size);
      expect(sha256(bytes)).toBe(sha256(v1));
    });

    it('leaves one of two concurrent puts to a key whole, its info matching its bytes', async () => {
      const key = `${ns()}/raced`;
      const a = pseudoRandomBytes(3 * MiB, 33);
      const b = pseudoRandomBytes(2 * MiB + 7, 34);
      await Promise.all([store.put(key, bodyOf(a), { metadata: { v: 'a' } }), store.put(key, bodyOf(b), { metadata: { v: 'b' } })]);
      const got = await store.get(key);
      const bytes = await readAll(got.body);
      const winner = got.info.metadata.v === 'a' ? a : b;
      expect(['a', 'b']).toContain(got.info.metadata.v);
      expect(got.info.size).toBe(winner.length);
      expect(sha256(bytes)).toBe(sha256(winner));
      expect(await store.stat(key)).toMatchObject({ size: winner.length, etag: got.info.etag });
    });
  });
}
