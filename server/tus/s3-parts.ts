import type { Readable } from 'node:stream';
import type { Part, S3 } from '@aws-sdk/client-s3';
import type { MetadataValue, Options } from '@tus/s3-store';
import { ERRORS, Upload } from '@tus/utils';
import { isS3NotFound } from '../storage/s3-errors.ts';
import { ContiguousPartsS3Store } from './s3-contiguous-parts.ts';

/** Metadata of a `.part` object: the number of the part its bytes will open (see write()). */
const OPENS_PART = 'tus-opens-part';

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
 * `partsInFlight` + 1 parts per PATCH, and sent as a Buffer (a known length, replayable). The
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
export class BufferedS3Store extends ContiguousPartsS3Store {
  private readonly partsInFlight: number;

  constructor({ client, bucket, partsInFlight, ...options }: BufferedS3StoreOptions) {
    // The constructor makes a client of its own from s3ClientConfig: it is replaced at once.
    super({ ...options, s3ClientConfig: { bucket, region: 'us-east-1' } });
    this.client = client;
    this.partsInFlight = partsInFlight;
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
    let parts: Part[];
    try {
      parts = await this.retrieveParts(id);
    } catch (err) {
      // As the original: with the .info there, a multipart upload that is gone was completed.
      if (['NoSuchKey', 'NoSuchUpload'].includes((err as { name?: string }).name ?? '')) {
        return new Upload({ ...metadata.file, offset: metadata.file.size ?? 0, size: metadata.file.size });
      }
      throw err;
    }
    const tail = await this.tailSize(id, parts.at(-1)?.PartNumber ?? 0);
    return new Upload({ ...metadata.file, offset: sumOf(parts) + tail, size: metadata.file.size });
  }

  override async write(src: Readable, id: string, offset: number): Promise<number> {
    const metadata = await this.getMetadata(id);
    const parts = await this.retrieveParts(id);
    const next = (parts.at(-1)?.PartNumber ?? 0) + 1;
    const head = await this.tail(id, next - 1);
    const uploaded = await this.sendParts(metadata, src, next, offset - head.length, head);
    // The tail's bytes were counted in `offset` already: only the new ones move it.
    const newOffset = offset + uploaded - head.length;
    if (metadata.file.size === newOffset) {
      await this.finishMultipartUpload(metadata, await this.retrieveParts(id));
      await this.completeMetadata(metadata.file);
      await this.clearCache(id);
    }
    return newOffset;
  }

  /** The `.part` tail's size, 0 when there is none or it is stale (its part is stored). */
  private async tailSize(id: string, lastPart: number): Promise<number> {
    try {
      const head = await this.client.headObject({ Bucket: this.bucket, Key: this.partKey(id, true) });
      return isStale(head.Metadata, lastPart) ? 0 : (head.ContentLength ?? 0);
    } catch (err) {
      if (isS3NotFound(err)) return 0;
      throw err;
    }
  }

  /** The `.part` tail's bytes (below 5 MiB by construction), empty when there is none; a stale one is removed. */
  private async tail(id: string, lastPart: number): Promise<Buffer> {
    let out;
    try {
      out = await this.client.getObject({ Bucket: this.bucket, Key: this.partKey(id, true) });
    } catch (err) {
      if (isS3NotFound(err)) return Buffer.alloc(0);
      throw err;
    }
    const bytes = Buffer.from((await out.Body?.transformToByteArray()) ?? []);
    if (!isStale(out.Metadata, lastPart)) return bytes;
    await this.deleteIncompletePart(id);
    return Buffer.alloc(0);
  }

  /**
   * Sends `head` + `src` as parts `first`, `first + 1`, …, and what is left below 5 MiB at the end
   * as the `.part` tail (or as the last part, when it completes the upload). Resolves with the
   * bytes stored; rejects, after every request in flight has settled, with the first failure.
   */
  private async sendParts(metadata: MetadataValue, src: Readable, first: number, offset: number, head: Buffer): Promise<number> {
    const size = metadata.file.size;
    const partSize = this.calcOptimalPartSize(size);
    const inflight = new Set<Promise<void>>();
    let failure: { err: unknown } | undefined;
    let uploaded = 0;
    let partNumber = first;
    let chunks: Buffer[] = head.length > 0 ? [head] : [];
    let filled = head.length;

    const send = async (part: Buffer, number: number, final: boolean): Promise<void> => {
      const permit = await this.partUploadSemaphore.acquire();
      try {
        if (part.length >= this.minPartSize || final) {
          await this.uploadPart(metadata, part, number);
          // The tail's bytes are in this part now: the `.part` is stale (and would be ignored).
          if (number === first && head.length > 0) await this.deleteIncompletePart(metadata.file.id).catch(() => undefined);
        } else {
          await this.putTail(metadata.file.id, part, number);
        }
        uploaded += part.length;
      } finally {
        await permit.release();
      }
    };
    const take = (): { part: Buffer; number: number; final: boolean } => {
      const part = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, filled);
      chunks = [];
      filled = 0;
      offset += part.length;
      return { part, number: partNumber++, final: offset === size };
    };

    try {
      for await (const chunk of src as AsyncIterable<Buffer>) {
        let rest = chunk;
        while (filled + rest.length >= partSize) {
          const room = partSize - filled;
          chunks.push(rest.subarray(0, room));
          filled = partSize;
          rest = rest.subarray(room);
          const { part, number, final } = take();
          const p: Promise<void> = send(part, number, final).then(
            () => void inflight.delete(p),
            (err: unknown) => {
              failure ??= { err };
              inflight.delete(p);
            },
          );
          inflight.add(p);
          while (inflight.size >= this.partsInFlight && !failure) await Promise.race(inflight);
          if (failure) throw failure.err;
        }
        if (rest.length > 0) {
          chunks.push(rest);
          filled += rest.length;
        }
      }
    } catch (err) {
      failure ??= { err };
    }
    await Promise.allSettled(inflight);
    if (failure) throw failure.err;
    // Only now, with every part before it stored: the tail's offset is known.
    if (filled > 0) {
      const { part, number, final } = take();
      await send(part, number, final);
    }
    return uploaded;
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

/** A tail whose part is stored already; one without the name (written by @tus/s3-store itself) never is. */
function isStale(metadata: Record<string, string> | undefined, lastPart: number): boolean {
  const opens = Number(metadata?.[OPENS_PART]);
  return Number.isInteger(opens) && opens <= lastPart;
}

const sumOf = (parts: Part[]): number => parts.reduce((n, p) => n + (p.Size ?? 0), 0);
