import { createHash } from 'node:crypto';
import { Readable, Transform, pipeline } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { describeBucketFailure } from './s3-check.ts';
import { GatewayError, errors, isGatewayError } from '../errors.ts';
import { validateKey, validatePrefix } from './keys.ts';
import { checkPutBinding, sha256Base64 } from './presign-binding.ts';
import { presignPutObject, SIGV4_MAX_EXPIRES } from './s3-presign.ts';
import { copyInParts, copySource, mapLimit, type MultipartCopyParams } from './s3-copy.ts';
import { decodeMetadata, encodeMetadata, S3_METADATA_LIMIT, s3MetadataBytes } from './s3-metadata.ts';
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
import { listLimit, MAX_LIST_LIMIT } from './store.ts';

export type { MultipartCopyParams } from './s3-copy.ts';

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

type ResolvedOptions = Omit<Required<S3StoreOptions>, 'presignClient'>;

/** An S3 client error or a network failure, as one GatewayError: nothing from the SDK leaves this file. */
export function fromS3Error(err: unknown, key?: string): GatewayError {
  if (isGatewayError(err)) return err;
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const name = e?.name ?? '';
  const detail = `S3 ${name || 'error'}: ${e?.message || e?.$metadata?.httpStatusCode || 'request failed'}`;
  switch (name) {
    case 'NoSuchKey':
    case 'NotFound': // HEAD has no body, so the SDK names the error after the status
      return key === undefined ? errors.translated('NoSuchKey', detail, err) : errors.noSuchKey(key, err);
    case 'AccessDenied':
    case 'Forbidden':
      return errors.accessDenied(detail, err);
    case 'InvalidRange':
      return errors.invalidRange(undefined, err);
    case 'PreconditionFailed': // CopySourceIfMatch: the source changed while it was being copied
      return errors.preconditionFailed(detail, err);
    case 'MetadataTooLarge':
      return errors.invalidArgument(detail, err);
    case 'EntityTooLarge':
      return errors.translated('EntityTooLarge', detail, err);
    case 'KeyTooLongError':
      return errors.translated('InvalidKey', detail, err);
    default:
      return errors.internal(detail, err);
  }
}

/**
 * Server-side copy of any size (up to 5 TiB) by UploadPartCopy, for callers that already know
 * the source's size (finalization). Leaves no parts behind on failure; rejects with a GatewayError.
 */
export async function copyObjectMultipart(client: S3Client, params: MultipartCopyParams): Promise<void> {
  try {
    await copyInParts(client, params);
  } catch (err) {
    throw fromS3Error(err, params.from);
  }
}

interface S3ObjectHeaders {
  ContentLength?: number;
  ContentType?: string;
  ETag?: string;
  LastModified?: Date;
  Metadata?: Record<string, string>;
}

function toObjectInfo(key: string, o: S3ObjectHeaders, size = o.ContentLength ?? 0): ObjectInfo {
  return {
    key,
    size,
    contentType: o.ContentType ?? 'application/octet-stream',
    etag: o.ETag ?? '',
    lastModified: o.LastModified ?? new Date(0),
    metadata: decodeMetadata(o.Metadata),
  };
}

// The cursor is the last key of the page, base64url: opaque to clients, valid for
// any S3 (StartAfter, unlike ContinuationToken, is plain data we can check).
const encodeCursor = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');
function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (key === '' || encodeCursor(key) !== cursor) throw errors.invalidArgument('invalid cursor');
  return key;
}

function checkExpiresIn(expiresIn: number): void {
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > SIGV4_MAX_EXPIRES) {
    throw errors.invalidArgument(`expiresIn must be an integer from 1 to ${SIGV4_MAX_EXPIRES} seconds`);
  }
}

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
    const metadata = encodeMetadata(options.metadata);
    // Counting on the way through: failing the stream before its end makes Upload
    // abort the multipart upload (or never send the PutObject), so a short or long
    // body leaves nothing behind and any previous object at `key` stays.
    let received = 0;
    const mismatch = (): GatewayError => errors.invalidArgument(`body length differs from the declared size ${expected}`);
    // The digest travels with the count: a body whose sha256 is not the one asked for fails in
    // flush, before the last part, so it never becomes the object either.
    const hash = options.sha256 || options.recordSha256 ? createHash('sha256') : undefined;
    const want = options.sha256?.toLowerCase();
    let computed: string | undefined;
    const counted = new Transform({
      transform(chunk: Buffer, _enc, done) {
        received += chunk.length;
        hash?.update(chunk);
        done(expected !== undefined && received > expected ? mismatch() : null, chunk);
      },
      flush(done) {
        if (expected !== undefined && received !== expected) return done(mismatch());
        computed = hash?.digest('hex');
        if (want !== undefined && computed !== want) return done(errors.badDigest(want, computed!));
        done();
      },
    });
    pipeline(body, counted, () => undefined); // errors reach Upload through `counted`
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: key, Body: counted, ContentType: options.contentType, Metadata: metadata },
      partSize: this.#opts.partSize,
      queueSize: this.#opts.queueSize,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      counted.destroy(); // releases `body` when S3 failed first
      throw fromS3Error(err, key);
    }
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
      // The hidden keys are left out, and the listing goes on past them, so a page is full
      // whenever there are visible keys enough and its cursor is always a VISIBLE key (a
      // cursor is the last key of its page, and would otherwise hand out an upload's id).
      const visible: string[] = [];
      let after = startAfter;
      let more = false;
      for (let first = true; ; first = false) {
        const out = await this.#client.send(
          new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix || undefined, MaxKeys: first ? limit : MAX_LIST_LIMIT, StartAfter: after }),
        );
        const keys = (out.Contents ?? []).flatMap((c) => (c.Key === undefined ? [] : [c.Key]));
        for (const k of keys) if (!this.#hidden(k)) visible.push(k);
        if (visible.length > limit) {
          visible.length = limit;
          more = true;
          break;
        }
        if (!out.IsTruncated || keys.length === 0) break;
        if (visible.length === limit) {
          more = true;
          break;
        }
        after = keys.at(-1);
      }
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
    return this.#presign(new GetObjectCommand({ Bucket: this.#bucket, Key: key }), options.expiresIn, key);
  }

  /**
   * The length is bound through the signed `Content-Length` (SigV4 signs every header in
   * X-Amz-SignedHeaders, so S3 refuses another length with SignatureDoesNotMatch); the sha256
   * through a signed `x-amz-content-sha256` (the payload hash of the signature: every SigV4
   * server checks the body against it) and `x-amz-checksum-sha256` (which newer S3 servers
   * verify as well), and a signed `x-amz-meta-sha256` carrying the same digest in hex, so the
   * object has its `metadata.sha256` as every other object does. All stay headers (unhoisted):
   * a header moved into the query string is signed, but S3 checks no body against it.
   */
  async presignedPutUrl(key: string, options: PresignPutOptions): Promise<PresignedPut> {
    this.#writable(key);
    checkExpiresIn(options.expiresIn);
    const { size, sha256 } = checkPutBinding(options);
    const checksum = sha256 && sha256Base64(sha256);
    const command = new PutObjectCommand({
      Bucket: this.#bucket,
      Key: key,
      ContentType: options.contentType,
      ContentLength: size,
      ...(sha256 ? { ChecksumSHA256: checksum, Metadata: { sha256 } } : {}),
    });
    // With checksums WHEN_SUPPORTED the SDK would sign a CRC32 of the empty body it
    // sees here into the URL, and every real upload would then fail its checksum.
    command.middlewareStack.remove('flexibleChecksumsMiddleware');
    const headers: Record<string, string> = { 'Content-Length': String(size) };
    if (options.contentType) headers['Content-Type'] = options.contentType;
    if (sha256) Object.assign(headers, { 'x-amz-checksum-sha256': checksum, 'x-amz-meta-sha256': sha256, 'x-amz-content-sha256': sha256 });
    const signed = new Set(Object.keys(headers).map((h) => h.toLowerCase()));
    try {
      const url = await presignPutObject(this.#presignClient, command, { expiresIn: options.expiresIn, headers: signed, ...(sha256 ? { sha256 } : {}) });
      return { url, headers };
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

  async #presign(command: GetObjectCommand, expiresIn: number, key: string): Promise<string> {
    try {
      return await getSignedUrl(this.#presignClient, command, { expiresIn });
    } catch (err) {
      throw fromS3Error(err, key);
    }
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

/** The endpoint a client talks to, for messages ('' = AWS's, derived from the region). */
export async function endpointOf(client: S3Client): Promise<string> {
  const ep = await client.config.endpoint?.().catch(() => undefined);
  return ep ? `${ep.protocol}//${ep.hostname}${ep.port ? `:${ep.port}` : ''}` : '';
}

/** The s3 Store; the client (endpoint, credentials, checksum mode) comes from wiring: see s3-client.ts. */
export function createS3Store(options: S3StoreOptions): S3Store {
  return new S3Store(options);
}
