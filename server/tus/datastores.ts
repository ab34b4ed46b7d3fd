import { constants, createReadStream } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { DeleteObjectsCommand, HeadBucketCommand, HeadObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { FileStore } from '@tus/file-store';
import type { MetadataValue } from '@tus/s3-store';
import type { Metrics } from '../metrics.ts';
import { describeBucketFailure } from '../storage/s3-check.ts';
import { observeS3 } from '../storage/s3-client.ts';
import { MemoryKvStore, type DataStore, type KvStore, type Upload } from '@tus/utils';
import { errors } from '../errors.ts';
import type { Config } from '../config.ts';
import type { Store } from '../storage/store.ts';
import type { RangeReader } from './datastore.ts';
import { fileDataPath, readFileData, type Placement } from './finalize.ts';
import { FileRecordStore } from './records.ts';
import { ContiguousPartsS3Store } from './s3-contiguous-parts.ts';

export interface InnerDatastore {
  datastore: DataStore;
  readRange?: RangeReader;
  idPrefix?: string;
  placement: Placement;
  readAll: (id: string) => Promise<Readable>;
  ping: () => Promise<void>;
  /** Ids the datastore holds, where it can list them cheaply (file). */
  listLive?: () => Promise<string[]>;
  /**
   * Makes sure a complete upload's data is whole in the datastore. s3: the process can
   * die after the last part and before CompleteMultipartUpload; the parts then add up
   * to the length but there is no object to copy or read.
   */
  ensureComplete?: (id: string, size: number) => Promise<void>;
  /** Removes everything the datastore keeps of an upload, where its own remove() falls short (s3). */
  remove?: (id: string) => Promise<void>;
  /** Flushes an upload's data to stable storage (file). */
  sync?: (id: string) => Promise<void>;
}

/** The S3 client settings shared by the s3 Store and the s3 datastore (docs/s3-test-server.md: checksums). */
export function s3ClientConfig(s3: Config['storage']['s3']): S3ClientConfig {
  const mode = s3.checksums === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
  return {
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    ...(s3.accessKey && s3.secretKey ? { credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey } } : {}),
    requestChecksumCalculation: mode,
    responseChecksumValidation: mode,
  };
}

const isS3NotFound = (err: unknown) => ['NotFound', 'NoSuchKey', 'NoSuchUpload'].includes((err as { name?: string }).name ?? '');

/** The tus datastore chosen by `tus.datastore`, with how its data reaches the Store. */
export async function createInnerDatastore(config: Config, store: Store, s3Cache?: KvStore<MetadataValue>, metrics?: Metrics): Promise<InnerDatastore> {
  const expiration = config.tus.expiration;
  if (config.tus.datastore === 'file') {
    const { importFile } = store.capabilities;
    const directory = config.tus.file.directory;
    const dataPath = fileDataPath(directory);
    // Atomic replacement of the per-upload JSON (docs/tus-server-notes.md #9: FileKvStore's plain writeFile can tear).
    const configstore = new FileRecordStore<Upload>(directory, '.json');
    const datastore = new FileStore({ directory, configstore, expirationPeriodInMilliseconds: expiration });
    return {
      datastore,
      readRange: (id, start, end) =>
        end > start ? createReadStream(dataPath(id), { start, end: end - 1 }) : Readable.from([]),
      placement: importFile
        ? { kind: 'link', dataPath, importFile }
        : { kind: 'stream', read: readFileData(directory) },
      readAll: readFileData(directory),
      ping: () =>
        access(directory, constants.W_OK).catch((err) => {
          throw errors.unavailable(`tus directory not writable: ${directory}`, err);
        }),
      listLive: () => configstore.list(),
      sync: async (id) => {
        const fh = await open(dataPath(id), 'r+');
        try {
          await fh.datasync();
        } finally {
          await fh.close();
        }
      },
    };
  }

  const s3 = config.storage.s3;
  const clientConfig = s3ClientConfig(s3);
  const cache = s3Cache ?? new MemoryKvStore<MetadataValue>();
  const tusStore = new ContiguousPartsS3Store({
    partSize: config.tus.partSize,
    expirationPeriodInMilliseconds: expiration,
    cache,
    s3ClientConfig: { ...clientConfig, bucket: s3.bucket },
  });
  // @tus/s3-store's declareUploadLength rewrites the .info object but not its upload-info
  // cache: with a shared (Redis) cache every instance goes on reading the length as
  // deferred, and the final PATCH gets 409. The cache entry goes with the declaration.
  const declareUploadLength = tusStore.declareUploadLength.bind(tusStore);
  tusStore.declareUploadLength = async (id, length) => {
    await declareUploadLength(id, length);
    await cache.delete(id);
  };
  const prefix = s3.tusPrefix;
  const read = async (id: string) => (await tusStore.read(prefix + id)) as Readable;
  const client = new S3Client(clientConfig);
  if (metrics) {
    observeS3(client, metrics.s3Duration);
    // @tus/s3-store's own client is `protected` in its typings; its middleware stack is the SDK's public API.
    observeS3((tusStore as unknown as { client: S3Client }).client, metrics.s3Duration);
  }
  return {
    datastore: tusStore,
    idPrefix: prefix,
    placement: store.capabilities.copyFromS3Datastore ? { kind: 'copy', sourceKey: (id) => prefix + id } : { kind: 'stream', read },
    readAll: read,
    remove: async (id) => {
      const key = prefix + id;
      await tusStore.getUpload(key); // FILE_NOT_FOUND (404) for an upload it never had
      // @tus/s3-store's remove() aborts the multipart upload first and gives up when that
      // fails — as it does for every completed upload — leaving the data object and its
      // .info behind for ever; and it never deletes the .part of an incomplete part.
      await tusStore.remove(key).catch((err) => {
        if ((err as { status_code?: number }).status_code !== 404 && !isS3NotFound(err)) throw err;
      });
      await client.send(
        new DeleteObjectsCommand({
          Bucket: s3.bucket,
          Delete: { Objects: [{ Key: key }, { Key: `${key}.info` }, { Key: `${key}.part` }], Quiet: true },
        }),
      );
      await cache.delete(key);
    },
    ensureComplete: async (id, size) => {
      try {
        await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: prefix + id }));
      } catch (err) {
        if (!isS3NotFound(err)) throw err;
        // An empty write at offset == size is where @tus/s3-store completes the multipart upload.
        try {
          await tusStore.write(Readable.from([]), prefix + id, size);
        } catch (cause) {
          // @tus/s3-store reports an upload whose multipart upload is gone (aborted by a
          // bucket lifecycle rule, say) as complete: ListParts' NoSuchUpload reads as "done".
          if (isS3NotFound(cause)) throw errors.gone(`upload ${id}: its multipart upload no longer exists`, cause);
          throw cause;
        }
      }
    },
    ping: async () => {
      try {
        await client.send(new HeadBucketCommand({ Bucket: s3.bucket }));
      } catch (err) {
        throw errors.unavailable(`tus datastore: ${describeBucketFailure(err, s3.bucket, s3.endpoint)}`, err);
      }
    },
  };
}

