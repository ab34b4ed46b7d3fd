import type { Readable } from 'node:stream';
import type { HeadObjectCommandOutput, Part, S3 } from '@aws-sdk/client-s3';
import type { MetadataValue, Options } from '@tus/s3-store';
import { ERRORS, Upload } from '@tus/utils';
import { isS3NotFound } from '../storage/s3-errors.ts';
import { churned } from '../util/gc.ts';
import { FreshUploadsS3Store } from './s3-fresh-uploads.ts';
import { PartBuffers } from './s3-part-buffers.ts';
import type { ResumableSha256 } from './sha256-state.ts';

/** Metadata of a `.part` object: the number of the part its bytes will open (see write()). */
const OPENS_PART = 'tus-opens-part';
const HASH_SPAN = 2 ** 20;

export interface BufferedS3StoreOptions extends Omit<Options, 's3ClientConfig' | 'maxConcurrentPartUploads'> {
  /** The client from storage/s3-client.ts: the same settings as the s3 Store's. */
  client: S3;
  bucket: string;
  /** Parts of one PATCH being sent at once; one more fills meanwhile. Memory per PATCH ≤ (partsInFlight + 1) × part size. */
  partsInFlight: number;
  /** Parts being sent at once by the whole process. */
  maxConcurrentPartUploads: number;
}

/**
 * @tus/s3-store with its write path replaced, its on-S3 layout kept (`{id}` multipart upload,
 * `{id}.info`, `{id}.part` for a tail below 5 MiB), so uploads begun before resume after.
 *
 * Why by hand: @tus/s3-store's write() goes through StreamSplitter, which writes every part to a
 * temporary file and reads it back to send it (twice the disk traffic of the upload, and a part
 * sent as a stream cannot be retried by the SDK). Here a part is gathered in memory, at most
 * `partsInFlight` + 1 parts per PATCH (in buffers reused from part to part: s3-part-buffers.ts), and sent as a Buffer (a known length, replayable). The
 * reading of the body waits while the parts in flight are at their limit: backpressure, so memory
 * does not grow with the upload.
 *
 * Two holes of the original are closed on the way (both kill -9 or error cases):
 * - it deleted the `.part` tail before the first new part was sent: a crash in between lost
 *   bytes already counted in Upload-Offset. Here the tail goes only after the part that carries
 *   its bytes is stored, and a `.part` names the part it opens (`x-amz-meta-tus-opens-part`): once
 *   that part exists, the `.part` is stale and not counted, never counted twice.
 * - a tail was sent while earlier parts were still in flight: if one of them failed, the offset
 *   counted the tail past a gap. Here the tail is sent after every part before it is stored (and,
 *   from ContiguousPartsS3Store, only the parts numbered 1, 2, 3 … without a gap count).
 */
export class BufferedS3Store extends FreshUploadsS3Store {
  private readonly partsInFlight: number;
  private readonly buffers: PartBuffers;

  constructor({ client, bucket, partsInFlight, ...options }: BufferedS3StoreOptions) {
    // The constructor makes a client of its own from s3ClientConfig: it is replaced at once.
    super({ ...options, s3ClientConfig: { bucket, region: 'us-east-1' } });
    this.client = client;
    this.partsInFlight = partsInFlight;
    // Enough for every part the process may have in flight: in steady use, no part allocates.
    this.buffers = new PartBuffers(options.maxConcurrentPartUploads);
  }

  // The original rewrites the .info object but not its cache entry: with a shared (Redis) cache
  // every instance would go on reading the length as deferred, and the final PATCH would get 409.
  override async declareUploadLength(id: string, length: number): Promise<void> {
    await super.declareUploadLength(id, length);
    await this.cache.delete(id);
  }

  override async getUpload(id: string): Promise<Upload> {
    let metadata: MetadataValue;
    try {
      metadata = await this.getMetadata(id);
    } catch {
      throw ERRORS.FILE_NOT_FOUND;
    }
    const size = metadata.file.size;
    if (isCompleted(metadata)) return new Upload({ ...metadata.file, size }); // its offset is the size
    if (this.isFresh(metadata)) return new Upload({ ...metadata.file, offset: 0, size }); // nothing written yet
    // The `.part` HEAD does not depend on the listing: both at once, one round trip instead of two.
    const tailHead = this.headTail(id);
    tailHead.catch(() => undefined); // awaited below, unless the listing says the upload is done
    let parts: Part[];
    try {
      parts = await this.retrieveParts(id);
    } catch (err) {
      // As the original: with the .info there, a multipart upload that is gone was completed.
      if (['NoSuchKey', 'NoSuchUpload'].includes((err as { name?: string }).name ?? '')) {
        return new Upload({ ...metadata.file, offset: size ?? 0, size });
      }
      throw err;
    }
    const head = await tailHead;
    const tail = !head || isStale(head.Metadata, parts.at(-1)?.PartNumber ?? 0) ? 0 : (head.ContentLength ?? 0);
    return new Upload({ ...metadata.file, offset: sumOf(parts) + tail, size });
  }

  /**
   * Whether CompleteMultipartUpload is known to have succeeded: write() then marks the
   * metadata (offset = size, in the cache and the `.info`), which nothing else writes so.
   */
  async completed(id: string): Promise<boolean> {
    return isCompleted(await this.getMetadata(id));
  }

  /**
   * `hash` (at `offset`), when given, is fed the body's bytes from the part buffers they were
   * copied into, never from the socket's own buffers: those are garbage at once (see
   * util/gc.ts churned()). Hashed from the socket's buffers, a 128 MiB PATCH ran ~10 full
   * collections, the buffers the hash still held being promoted. A body that fails (the
   * client went away, 413) still has the bytes that arrived stored, then its error is thrown,
   * as the file datastore does (batch-writer.ts).
   */
  override async write(src: Readable, id: string, offset: number, hash?: ResumableSha256): Promise<number> {
    const metadata = await this.getMetadata(id);
    await this.writing(id, metadata);
    let next = 1;
    let head: Buffer = Buffer.alloc(0);
    // At offset 0 (PatchHandler checked it against getUpload, under the upload's lock) there is
    // no part in the run that counts and no tail: nothing to list or fetch before the first byte.
    if (offset > 0) {
      // The `.part` GET and the listing at once: the round trip before the first byte is sent is one, not two.
      const tailObject = this.getTail(id);
      tailObject.catch(() => undefined); // awaited below, unless the listing fails
      next = ((await this.retrieveParts(id)).at(-1)?.PartNumber ?? 0) + 1;
      head = await this.tail(id, next - 1, await tailObject);
    }
    const { uploaded, sent, bodyError } = await this.sendParts(metadata, src, next, offset - head.length, head, hash);
    // The tail's bytes were counted in `offset` already: only the new ones move it.
    const newOffset = offset + uploaded - head.length;
    if (bodyError) throw bodyError;
    if (metadata.file.size === newOffset) {
      // Every part sent by this PATCH (numbered from 1): their ETags are known, no listing needed.
      const parts = next === 1 ? sent.sort((a, b) => a.PartNumber! - b.PartNumber!) : await this.retrieveParts(id);
      await this.finishMultipartUpload(metadata, parts);
      // The completion mark (see completed()), kept in the cache rather than clearing it (as the
      // original does): finalization's getUpload, ensureComplete and remove() then need no
      // ListParts / GET .info / HEAD / AbortMultipartUpload, ~5 round trips before the answer.
      // remove() drops the entry. A crash before the mark: the listing's NoSuchUpload says the same.
      metadata.file.offset = newOffset;
      await this.completeMetadata(metadata.file);
      await this.cache.set(id, metadata);
    }
    return newOffset;
  }

  /** HEAD of the `.part` tail; undefined when there is none. */
  private async headTail(id: string): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.client.headObject({ Bucket: this.bucket, Key: this.partKey(id, true) });
    } catch (err) {
      if (isS3NotFound(err)) return undefined;
      throw err;
    }
  }

  /** The `.part` tail's bytes (below 5 MiB by construction) and metadata; undefined when there is none. */
  private async getTail(id: string): Promise<{ bytes: Buffer; metadata?: Record<string, string> } | undefined> {
    let out;
    try {
      out = await this.client.getObject({ Bucket: this.bucket, Key: this.partKey(id, true) });
    } catch (err) {
      if (isS3NotFound(err)) return undefined;
      throw err;
    }
    return { bytes: Buffer.from((await out.Body?.transformToByteArray()) ?? []), metadata: out.Metadata };
  }

  /** The tail's bytes to send first, empty when there is none; a stale one (its part stored) is removed. */
  private async tail(id: string, lastPart: number, got: Awaited<ReturnType<BufferedS3Store['getTail']>>): Promise<Buffer> {
    if (!got) return Buffer.alloc(0);
    if (!isStale(got.metadata, lastPart)) return got.bytes;
    await this.deleteIncompletePart(id);
    return Buffer.alloc(0);
  }

  /**
   * Sends `head` + `src` as parts `first`, `first + 1`, …, and what is left below 5 MiB at the end
   * as the `.part` tail (or as the last part, when it completes the upload). Resolves with the
   * bytes stored, the parts sent and the body's error if it failed (its bytes stored all the
   * same); rejects, after every request in flight has settled, with the first S3 failure.
   */
  private async sendParts(metadata: MetadataValue, src: Readable, first: number, offset: number, head: Buffer,
    hash?: ResumableSha256): Promise<{ uploaded: number; sent: Part[]; bodyError?: unknown }> {
    const size = metadata.file.size;
    const partSize = this.calcOptimalPartSize(size);
    const inflight = new Set<Promise<void>>();
    let failure: { err: unknown } | undefined;
    let bodyError: unknown;
    let uploaded = 0;
    const sent: Part[] = [];
    let partNumber = first;
    // A part buffer goes back to the pool once its sender and every hash batch reading it are done.
    const holds = new Map<Buffer, number>();
    const hold = (b: Buffer) => void holds.set(b, (holds.get(b) ?? 0) + 1);
    const release = (b: Buffer) => {
      const n = holds.get(b)! - 1;
      if (n > 0) return void holds.set(b, n);
      holds.delete(b);
      this.buffers.give(b);
    };
    // The part being filled: a pooled buffer (s3-part-buffers.ts), `filled` bytes of it so far.
    let buf: Buffer | undefined;
    let filled = 0;
    // Bytes of `buf` from here to `filled` are to be hashed, in spans of ≥ 1 MiB: one update
    // per 64 KiB chunk cost ~10 µs of the event loop each (2,048 per 128 MiB).
    let unhashed = 0;
    const fill = (bytes: Uint8Array) => {
      if (!buf) hold((buf = this.buffers.take(partSize)));
      buf.set(bytes, filled);
      filled += bytes.length;
    };
    const hashFilled = () => {
      if (!hash || !buf || filled <= unhashed) return;
      const b = buf;
      hold(b);
      hash.update(b.subarray(unhashed, filled), () => release(b));
      unhashed = filled;
    };
    // The tail's bytes were hashed by the PATCH that stored them.
    if (head.length > 0) {
      fill(head);
      unhashed = head.length;
    }

    const send = async ({ buffer, length, number, final }: Taken): Promise<void> => {
      const part = buffer.subarray(0, length);
      try {
        const permit = await this.partUploadSemaphore.acquire();
        try {
          if (part.length >= this.minPartSize || final) {
            sent.push({ PartNumber: number, ETag: await this.uploadPart(metadata, part, number), Size: part.length });
            // The tail's bytes are in this part now: the `.part` is stale (and would be ignored).
            if (number === first && head.length > 0) await this.deleteIncompletePart(metadata.file.id).catch(() => undefined);
          } else {
            await this.putTail(metadata.file.id, part, number);
          }
          uploaded += part.length;
        } finally {
          await permit.release();
        }
      } finally {
        // Settled, retries included: the SDK reads the buffer no more.
        release(buffer);
      }
    };
    const take = (): Taken => {
      hashFilled();
      const taken = { buffer: buf!, length: filled, number: partNumber++, final: offset + filled === size };
      offset += filled;
      buf = undefined;
      filled = 0;
      unhashed = 0;
      return taken;
    };

    try {
      for await (const chunk of src as AsyncIterable<Buffer>) {
        let rest = chunk;
        while (filled + rest.length >= partSize) {
          const room = partSize - filled;
          fill(rest.subarray(0, room));
          rest = rest.subarray(room);
          const p: Promise<void> = send(take()).then(
            () => void inflight.delete(p),
            (err: unknown) => {
              failure ??= { err };
              inflight.delete(p);
            },
          );
          inflight.add(p);
          while (inflight.size >= this.partsInFlight && !failure) await Promise.race(inflight);
          if (failure) break;
        }
        if (failure) break;
        if (rest.length > 0) fill(rest);
        if (filled - unhashed >= HASH_SPAN) hashFilled();
        churned(chunk.length); // copied into the part: the socket's buffer is garbage now
        if (hash?.behind) await hash.settled();
      }
    } catch (err) {
      // The body failed (aborted, too large): what arrived is stored below, then the error is the caller's.
      bodyError = err;
    }
    await Promise.allSettled(inflight);
    if (!failure) hashFilled(); // the last part's bytes, stored below
    // A hash failure is the caller's to see (settled() again): the bytes are stored either way.
    await hash?.settled().catch(() => undefined);
    if (failure) {
      if (buf) release(buf);
      throw failure.err;
    }
    // Only now, with every part before it stored: the tail's offset is known.
    if (filled > 0) await send(take());
    return { uploaded, sent, bodyError };
  }

  /** Replaces the `.part` tail in one PutObject, naming the part its bytes will open. */
  private async putTail(id: string, data: Buffer, opensPart: number): Promise<void> {
    await this.client.putObject({
      Bucket: this.bucket,
      Key: this.partKey(id, true),
      Body: data,
      Tagging: this.useCompleteTag('false'),
      Metadata: { [OPENS_PART]: String(opensPart) },
    });
  }
}

/** Marked complete by write(); a 0-byte upload never is (its .info says offset 0 = size from the start). */
function isCompleted(metadata: MetadataValue): boolean {
  const { size, offset } = metadata.file;
  return size !== undefined && size > 0 && offset === size;
}

/** A tail whose part is stored already; one without the name (written by @tus/s3-store itself) never is. */
function isStale(metadata: Record<string, string> | undefined, lastPart: number): boolean {
  const opens = Number(metadata?.[OPENS_PART]);
  return Number.isInteger(opens) && opens <= lastPart;
}

/** A filled part, handed from the reading loop to send(). */
interface Taken {
  buffer: Buffer;
  length: number;
  number: number;
  final: boolean;
}

const sumOf = (parts: Part[]): number => parts.reduce((n, p) => n + (p.Size ?? 0), 0);
