import { Readable } from 'node:stream';
import type { MetadataValue } from '@tus/s3-store';
import { MemoryKvStore, type KvStore } from '@tus/utils';
import { errors } from '../errors.ts';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { describeBucketFailure } from '../storage/s3-check.ts';
import { createS3Client, observeS3 } from '../storage/s3-client.ts';
import { isS3NotFound } from '../storage/s3-errors.ts';
import type { Store } from '../storage/store.ts';
import type { TusAdapter } from './adapter.ts';
import { BufferedS3Store } from './s3-parts.ts';

/**
 * Parts of one PATCH in flight (one more fills meanwhile): with 8 MiB parts, ≤ 40 MiB per PATCH.
 * 4, as @aws-sdk/lib-storage's queueSize: with 2 the S3 server's time per part (~150-250 ms for
 * 8 MiB on the test RGW once the body is sent) was not hidden: the 128 MiB bench upload ran at
 * 0.67-0.90 (median 0.79) of a direct lib-storage upload, with 4 at 0.71-1.14 (median 0.98),
 * 6 reps each, interleaved, on a loaded 2-core machine. The process limit below is unchanged.
 */
const PARTS_IN_FLIGHT = 4;
/** Parts in flight in the whole process, whatever the number of uploads. */
const PROCESS_PARTS_IN_FLIGHT = 16;

/**
 * The s3 datastore: uploads live in the Store's bucket under `storage.s3.tusPrefix`, in
 * @tus/s3-store's layout (`{id}` the multipart upload, then the object; `{id}.info`; `{id}.part`),
 * written by BufferedS3Store (s3-parts.ts). Loaded only when `tus.datastore` is s3.
 */
export async function createS3Adapter(config: Config, store: Store, s3Cache?: KvStore<MetadataValue>, metrics?: Metrics): Promise<TusAdapter> {
  const s3 = config.storage.s3;
  const bucket = s3.bucket;
  const prefix = s3.tusPrefix;
  const cache = s3Cache ?? new MemoryKvStore<MetadataValue>();
  const client = createS3Client(s3);
  if (metrics) observeS3(client, metrics.s3Duration);
  const tusStore = new BufferedS3Store({
    client,
    bucket,
    partSize: config.tus.partSize,
    partsInFlight: PARTS_IN_FLIGHT,
    maxConcurrentPartUploads: PROCESS_PARTS_IN_FLIGHT,
    expirationPeriodInMilliseconds: config.tus.expiration,
    cache,
  });
  const read = async (id: string) => (await tusStore.read(prefix + id)) as Readable;

  return {
    datastore: tusStore,
    idPrefix: prefix,
    // Same bucket: the Store's copy(), a CopyObject up to 5 GiB, which Ceph RGW does without
    // copying data (the new object shares the source's stored parts: 128 MiB in 0.1-0.2 s on the
    // RGW the tests use, where 8 parallel UploadPartCopy of 32-64 MiB took 9-12 s, copying every
    // byte); above 5 GiB, parallel UploadPartCopy (storage/s3-copy.ts), as S3 requires.
    placement: store.capabilities.copyFromS3Datastore ? { kind: 'copy', sourceKey: (id) => prefix + id } : { kind: 'stream', read },
    readAll: read,
    // The hash fed from the part buffers (s3-parts.ts write()), not from the socket's buffers.
    writeHashed: (body, id, offset, hash) => tusStore.write(body, prefix + id, offset, hash),
    remove: async (id) => {
      const key = prefix + id;
      await tusStore.getUpload(key); // FILE_NOT_FOUND (404) for an upload it never had
      // @tus/s3-store's remove() aborts the multipart upload first and gives up when that
      // fails — as it does for every completed upload — leaving the data object and its
      // .info behind for ever; and it never deletes the .part of an incomplete part.
      // An upload known to be completed (every finalized one) has nothing to abort: one round trip less.
      if (!(await tusStore.completed(key))) {
        await tusStore.remove(key).catch((err: unknown) => {
          if ((err as { status_code?: number }).status_code !== 404 && !isS3NotFound(err)) throw err;
        });
      }
      await client.deleteObjects({
        Bucket: bucket,
        Delete: { Objects: [{ Key: key }, { Key: `${key}.info` }, { Key: `${key}.part` }], Quiet: true },
      });
      await cache.delete(key);
    },
    ensureComplete: async (id, size) => {
      // Marked once CompleteMultipartUpload succeeded (s3-parts.ts): the object is there.
      if (await tusStore.completed(prefix + id)) return;
      try {
        await client.headObject({ Bucket: bucket, Key: prefix + id });
      } catch (err) {
        if (!isS3NotFound(err)) throw err;
        // The process died after the last part and before CompleteMultipartUpload: an empty
        // write at offset == size is where the datastore completes it.
        try {
          await tusStore.write(Readable.from([]), prefix + id, size);
        } catch (cause) {
          // An upload whose multipart upload is gone (aborted by a bucket lifecycle rule, say)
          // reads as complete: ListParts' NoSuchUpload means "done" to @tus/s3-store.
          if (isS3NotFound(cause)) throw errors.gone(`upload ${id}: its multipart upload no longer exists`, cause);
          throw cause;
        }
      }
    },
    ping: async () => {
      try {
        await client.headBucket({ Bucket: bucket });
      } catch (err) {
        throw errors.unavailable(`tus datastore: ${describeBucketFailure(err, bucket, s3.endpoint)}`, err);
      }
    },
  };
}
