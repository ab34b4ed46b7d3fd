import type { S3Client } from '@aws-sdk/client-s3';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
export interface S3StoreOptions {
  client: S3Client;
  bucket: string;
  /** Part size of streamed puts; bodies shorter than one part go up as one PutObject. Default 8 MiB (S3 minimum 5 MiB). */
  partSize?: number;
  /** Parts of one put in flight: a put holds about (queueSize + 1) × partSize in memory. Default 2. */
  queueSize?: number;
  /** Sources larger than this are copied part by part (UploadPartCopy); CopyObject itself stops at 5 GiB. */
  multipartCopyThreshold?: number;
  /** Byte range of each UploadPartCopy. Default 512 MiB. */
  copyPartSize?: number;
  /** Parallel HEADs in list, parallel UploadPartCopy in copy. Default 8. */
  concurrency?: number;
  /**
   * The tus s3 datastore's incomplete uploads (`.tus/`) live under this prefix: they are not
   * objects. A key under it is refused by every method (reads: NoSuchKey; writes, deletes and
   * presigns: InvalidKey) except as the SOURCE of copy (finalization adopts a finished upload's
   * data that way), and list never returns one nor builds a cursor from one.
   */
  hiddenPrefix?: string;
  /** Signs presigned URLs: a client on `storage.s3.publicEndpoint` when browsers reach S3 by another name. Default: `client`. */
  presignClient?: S3Client;
}

const defaults = {
  partSize: 8 * MiB,
  queueSize: 2,
  multipartCopyThreshold: 5 * GiB,
  copyPartSize: 512 * MiB,
  concurrency: 8,
  hiddenPrefix: '',
} satisfies Partial<S3StoreOptions>;

export type ResolvedOptions = Omit<Required<S3StoreOptions>, 'presignClient'>;

/** The options with their defaults, checked: a wrong one throws at construction, not at the first request. */
export function resolveOptions(options: S3StoreOptions): ResolvedOptions {
  const o: ResolvedOptions = { ...defaults, ...options };
  const fail = (msg: string): never => {
    throw new Error(`S3Store: ${msg}`);
  };
  if (!o.bucket) fail('bucket is required');
  if (!(o.partSize >= 5 * MiB)) fail('partSize must be at least 5 MiB (the S3 minimum part size)');
  if (!(Number.isInteger(o.queueSize) && o.queueSize >= 1)) fail('queueSize must be an integer >= 1');
  if (!(o.copyPartSize >= 5 * MiB && o.copyPartSize <= 5 * GiB)) fail('copyPartSize must be from 5 MiB to 5 GiB');
  if (!(o.multipartCopyThreshold >= 0 && o.multipartCopyThreshold <= 5 * GiB)) fail('multipartCopyThreshold must be from 0 to 5 GiB');
  if (!(Number.isInteger(o.concurrency) && o.concurrency >= 1)) fail('concurrency must be an integer >= 1');
  return o;
}
