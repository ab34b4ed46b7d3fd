import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { describeBucketFailure } from './s3-check.ts';
import { GatewayError, errors } from '../errors.ts';
import { validateKey, validatePrefix } from './keys.ts';
import { checkExpiresIn, presignBoundPut, SIGV4_MAX_EXPIRES } from './s3-presign.ts';
import { endpointOf } from './s3-client.ts';
import { copyInParts, copySource, mapLimit } from './s3-copy.ts';
import { fromS3Error } from './s3-errors.ts';
import { decodeCursor, encodeCursor, listVisibleKeys } from './s3-list.ts';
import { encodeMetadata, S3_METADATA_LIMIT, s3MetadataBytes, toObjectInfo } from './s3-metadata.ts';
import { resolveOptions, type ResolvedOptions, type S3StoreOptions } from './s3-options.ts';
import { putStreamed } from './s3-put.ts';
import type {
  CopyOptions,
  GetOptions,
  GetResult,
  ListOptions,
  ListResult,
  ObjectInfo,
  PresignedPut,
  PresignOptions,
  PresignPutOptions,
  PutOptions,
  Store,
  StoreCapabilities,
} from './store.ts';
import { listLimit } from './store.ts';

// Where they were before s3.ts was split: the tests and other callers import them from here.
export { copyObjectMultipart, type MultipartCopyParams } from './s3-copy.ts';
export { fromS3Error } from './s3-errors.ts';
export { endpointOf } from './s3-client.ts';
export type { S3StoreOptions } from './s3-options.ts';

/**
 * The Store on an S3 bucket. User metadata travels as `x-amz-meta-*`: S3 lowercases
 * header names, so names that are not lowercase are restored from one extra entry,
 * `x-amz-meta-ugw-names`; values that are not plain ASCII are RFC 2047-encoded
 * (s3-metadata.ts).
 */
export class S3Store implements Store {
  readonly kind = 's3' as const;
  // The tus s3 datastore writes into this bucket (config.storage.s3.bucket), so its objects are copy() sources.
  readonly capabilities: StoreCapabilities = { copyFromS3Datastore: true, maxPresignSeconds: SIGV4_MAX_EXPIRES };
  readonly #client: S3Client;
  readonly #presignClient: S3Client;
  readonly #bucket: string;
  readonly #opts: ResolvedOptions;

  constructor(options: S3StoreOptions) {
    const o = resolveOptions(options);
    this.#client = o.client;
    this.#presignClient = options.presignClient ?? o.client;
    this.#bucket = o.bucket;
    this.#opts = o;
  }

  checkKey(key: string): string {
    return validateKey(key);
  }

  /** S3 refuses a PUT whose user metadata exceeds 2 KB: say so before the first byte, not after the last. */
  checkNewObject(key: string, metadata: Record<string, string>): void {
    this.#writable(key);
    const bytes = s3MetadataBytes(metadata);
    if (bytes > S3_METADATA_LIMIT) {
      throw errors.invalidArgument(`the object's metadata takes ${bytes} bytes as S3 metadata; S3 keeps at most ${S3_METADATA_LIMIT}`);
    }
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<ObjectInfo> {
    this.#writable(key);
    const expected = options.size;
    if (expected !== undefined && !(Number.isSafeInteger(expected) && expected >= 0)) {
      throw errors.invalidArgument('size must be a non-negative integer');
    }
    const { partSize, queueSize } = this.#opts;
    const computed = await putStreamed(body, {
      client: this.#client, bucket: this.#bucket, key, contentType: options.contentType, metadata: encodeMetadata(options.metadata),
      size: expected, sha256: options.sha256, hash: options.recordSha256 === true, partSize, queueSize,
    });
    // S3 takes metadata before the body, so a digest known only at its end is added by a
    // server-side copy onto the object itself (no bytes pass through the gateway).
    const digest = options.recordSha256 ? computed : undefined;
    if (digest) return this.copy(key, key, { metadata: { ...options.metadata, sha256: digest } });
    // HEAD for the info: RGW answers CompleteMultipartUpload with an empty ETag, and
    // no PUT response carries Last-Modified.
    return this.stat(key);
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    this.#readable(key);
    const { range } = options;
    if (range && !(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.start <= range.end)) {
      // S3 ignores a malformed Range and sends the whole object: refuse it here.
      throw errors.invalidArgument(`invalid byte range ${range.start}-${range.end}`);
    }
    try {
      const out = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: key, Range: range && `bytes=${range.start}-${range.end}` }),
      );
      if (!(out.Body instanceof Readable)) throw new Error('GetObject returned no Node stream');
      // `bytes a-b/size`: S3 clamps an end past the object, so this is the range served.
      const served = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(out.ContentRange ?? '');
      const info = toObjectInfo(key, out, served ? Number(served[3]) : undefined);
      return served ? { info, body: out.Body, range: { start: Number(served[1]), end: Number(served[2]) } } : { info, body: out.Body };
    } catch (err) {
      if (range && (err as { name?: string }).name === 'InvalidRange') {
        const { size } = await this.stat(key); // 416 bodies do not reliably carry the size
        throw errors.invalidRange(size);
      }
      throw fromS3Error(err, key);
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    this.#readable(key);
    try {
      return toObjectInfo(key, await this.#head(key));
    } catch (err) {
      throw fromS3Error(err, key);
    }
  }

  async delete(key: string): Promise<void> {
    this.#writable(key);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
    } catch (err) {
      throw fromS3Error(err, key);
    }
  }

  async list(options: ListOptions = {}): Promise<ListResult> {
    const prefix = validatePrefix(options.prefix ?? '');
    const limit = listLimit(options.limit);
    const startAfter = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    // Nothing under the tus prefix is an object; a cursor there was never handed out.
    if (startAfter !== undefined && this.#hidden(startAfter)) throw errors.invalidArgument('invalid cursor');
    if (this.#hidden(prefix)) return { objects: [] };
    try {
      const { keys: visible, more } = await listVisibleKeys(this.#client, {
        bucket: this.#bucket, prefix, limit, startAfter, hidden: (k) => this.#hidden(k),
      });
      // A listing has no content type or metadata, and ObjectInfo needs both: HEAD
      // each key, a few at a time. A key deleted since the listing is left out.
      const infos = await mapLimit(visible, this.#opts.concurrency, async (k) => {
        try {
          return toObjectInfo(k, await this.#head(k));
        } catch (err) {
          if (fromS3Error(err, k).code === 'NoSuchKey') return undefined;
          throw err;
        }
      });
      const last = visible.at(-1);
      const objects = infos.filter((i): i is ObjectInfo => i !== undefined);
      return more && last !== undefined ? { objects, nextCursor: encodeCursor(last) } : { objects };
    } catch (err) {
      throw fromS3Error(err);
    }
  }

  async copy(from: string, to: string, options: CopyOptions = {}): Promise<ObjectInfo> {
    validateKey(from); // may be hidden: finalization copies a finished upload's data out of the tus prefix
    this.#writable(to);
    const replace = options.metadata !== undefined || options.contentType !== undefined;
    // S3 refuses a copy onto itself that changes nothing; the result is the object as it is.
    if (from === to && !replace) return this.stat(from);
    const newMetadata = options.metadata && encodeMetadata(options.metadata);
    let source;
    try {
      source = await this.#head(from);
    } catch (err) {
      throw fromS3Error(err, from);
    }
    // REPLACE replaces both: keep whichever of the two the caller did not give.
    const contentType = options.contentType ?? source.ContentType;
    const metadata = newMetadata ?? source.Metadata ?? {};
    const size = source.ContentLength ?? 0;
    try {
      if (size > this.#opts.multipartCopyThreshold) {
        const { copyPartSize: partSize, concurrency } = this.#opts;
        await copyInParts(this.#client, { bucket: this.#bucket, from, to, size, partSize, concurrency, contentType, metadata, ifMatch: source.ETag });
      } else {
        await this.#client.send(
          new CopyObjectCommand({
            Bucket: this.#bucket,
            Key: to,
            CopySource: copySource(this.#bucket, from),
            CopySourceIfMatch: source.ETag,
            MetadataDirective: replace ? 'REPLACE' : 'COPY',
            ...(replace ? { ContentType: contentType, Metadata: metadata } : {}),
          }),
        );
      }
    } catch (err) {
      throw fromS3Error(err, from);
    }
    return this.stat(to);
  }

  async presignedGetUrl(key: string, options: PresignOptions): Promise<string> {
    this.#writable(key); // InvalidKey, not NoSuchKey: a presign never looks at the object
    checkExpiresIn(options.expiresIn);
    try {
      return await getSignedUrl(this.#presignClient, new GetObjectCommand({ Bucket: this.#bucket, Key: key }), { expiresIn: options.expiresIn });
    } catch (err) {
      throw fromS3Error(err, key);
    }
  }

  /** Bound to one length and, when given, one sha256 (s3-presign.ts says how). */
  async presignedPutUrl(key: string, options: PresignPutOptions): Promise<PresignedPut> {
    this.#writable(key);
    checkExpiresIn(options.expiresIn);
    try {
      return await presignBoundPut(this.#presignClient, this.#bucket, key, options);
    } catch (err) {
      throw fromS3Error(err, key);
    }
  }

  async ping(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }));
    } catch (err) {
      throw errors.unavailable(describeBucketFailure(err, this.#bucket, await endpointOf(this.#client)), err);
    }
  }

  #head(key: string) {
    return this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
  }

  #hidden(key: string): boolean {
    const { hiddenPrefix } = this.#opts;
    return hiddenPrefix !== '' && key.startsWith(hiddenPrefix);
  }

  /** An incomplete upload is not an object: reading one finds nothing. */
  #readable(key: string): void {
    validateKey(key);
    if (this.#hidden(key)) throw errors.noSuchKey(key);
  }

  /** Nor can one be written, deleted or presigned. */
  #writable(key: string): void {
    validateKey(key);
    if (this.#hidden(key)) throw errors.invalidKey(`keys under ${this.#opts.hiddenPrefix} are reserved for incomplete uploads`);
  }
}

/** The s3 Store; the client (endpoint, credentials, checksum mode) comes from wiring: see s3-client.ts. */
export function createS3Store(options: S3StoreOptions): S3Store {
  return new S3Store(options);
}
