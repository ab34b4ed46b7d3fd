import type { Readable } from 'node:stream';
import { errors } from '../errors.ts';

/** What the Store knows of one object (docs/api.md §3, §4 ObjectInfo). */
export interface ObjectInfo {
  key: string;
  size: number;
  contentType: string;
  /** Quoted strong validator: S3's own on s3, derived from the sha256 on localfs. */
  etag: string;
  lastModified: Date;
  /** User metadata: the upload's metadata plus `sha256` and `uploadId` for finalized uploads. */
  metadata: Record<string, string>;
}

export interface PutOptions {
  contentType?: string;
  metadata?: Record<string, string>;
  /** Byte count when known; absent means unknown (streamed, multipart on S3). */
  size?: number;
  /** Hex sha256 the body must have: checked as it streams, `BadDigest` and nothing stored on a mismatch. */
  sha256?: string;
  /** Record the body's sha256 (computed as it streams) as `metadata.sha256`. */
  recordSha256?: boolean;
}

/** An inclusive byte range, as in `Range: bytes=start-end`, already resolved against the size. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface GetOptions {
  range?: ByteRange;
}

export interface GetResult {
  info: ObjectInfo;
  body: Readable;
  /** The range served, when one was asked for. */
  range?: ByteRange;
}

/**
 * What a reader wants, decided from the info of the very version about to be read: the
 * options of a get (`{}`: the whole object), or `null` when no body is wanted (a 304 decided
 * from the validators). It may throw (a 412, a 416) and then nothing is read.
 */
export type ReadChoice = (info: ObjectInfo) => GetOptions | null;

/** The outcome of a chosen read: `body` and `range` are absent when the choice was `null`. */
export type ChosenResult = GetResult | { info: ObjectInfo; body?: undefined; range?: undefined };

/** A list page holds at most this many objects (S3's ListObjectsV2 MaxKeys; docs/api.md §4 `limit` 1–1000). */
export const MAX_LIST_LIMIT = 1000;

/** `limit` of a list call: 1..MAX_LIST_LIMIT, MAX_LIST_LIMIT when not given. */
export function listLimit(limit: number = MAX_LIST_LIMIT): number {
  if (!(Number.isInteger(limit) && limit >= 1 && limit <= MAX_LIST_LIMIT)) throw errors.invalidArgument(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  return limit;
}

export interface ListOptions {
  prefix?: string;
  /** 1..MAX_LIST_LIMIT; default MAX_LIST_LIMIT. */
  limit?: number;
  /** Opaque: the `nextCursor` of the previous page. */
  cursor?: string;
}

export interface ListResult {
  /** In byte order of the keys (as S3 lists them). */
  objects: ObjectInfo[];
  nextCursor?: string;
}

export interface CopyOptions {
  /** Replace the metadata and content type; absent keeps the source's. */
  metadata?: Record<string, string>;
  contentType?: string;
}

export interface PresignOptions {
  /** Seconds until the URL expires. */
  expiresIn: number;
  /** For PUT: the content type the uploader will send. */
  contentType?: string;
  /** localfs: the base URL to write instead of `server.publicUrl` (the origin a trusted proxy forwarded). */
  baseUrl?: string;
}

/** A presigned PUT is bound to one body: its length always, its sha256 when given. */
export interface PresignPutOptions extends PresignOptions {
  /** The exact byte count the PUT must carry; any other length is refused before anything is stored. */
  size: number;
  /** Hex sha256 the body must have; a body with another digest is refused and nothing is stored. */
  sha256?: string;
  /** The URL may replace an existing object (localfs signs it; /storage checks it when storage.overwrite is deny). */
  overwrite?: boolean;
}

/** What importFile is told of the file it adopts. */
export interface ImportFileOptions {
  size: number;
  /** Hex sha256 of the whole file, computed by the caller as the bytes arrived; the etag derives from it. */
  sha256: string;
  contentType?: string;
  metadata?: Record<string, string>;
  /**
   * Leave `path` where it is: the object becomes another hard link to its bytes (finalize.ts: the
   * tus copy keeps its name until the upload's record says `done`). Not flushed before it is
   * linked (it is before it becomes the object). On another filesystem, a copy.
   */
  keepSource?: boolean;
}

/**
 * What a backend can do beyond the methods every Store has. Declared here once, so that
 * callers ask the Store what it can do and never which backend it is.
 */
export interface StoreCapabilities {
  /**
   * Zero-copy finalization: adopts the regular file at `path` (on the gateway's own
   * filesystem) as `key`, by rename, or a hard link with `keepSource` (a streaming copy when it
   * is on another filesystem, then the source is removed unless kept). Resolves with the object's info. `InvalidArgument` if the
   * file's size is not `size` or `sha256` is not 64 hex digits; on failure the source file
   * is left in place. Absent: the bytes are streamed into put().
   */
  importFile?: (path: string, key: string, options: ImportFileOptions) => Promise<ObjectInfo>;
  /**
   * copy() reads the objects the tus s3 datastore writes (they live in this Store's bucket,
   * under its hidden prefix), so a finished s3 upload becomes its object by a server-side copy.
   */
  copyFromS3Datastore: boolean;
  /** The longest a presigned URL may live, in seconds (Infinity: only `signing.maxTtl` limits it). */
  maxPresignSeconds: number;
  /** The directory on this machine's disk the objects are written to (limits.diskReserve is kept free there); absent: not this disk. */
  localDirectory?: string;
}

export interface PresignedPut {
  url: string;
  /** The headers the client must send with the URL, exactly as given (they are signed or checked). */
  headers: Record<string, string>;
}

/**
 * An object store with S3 semantics. Every method rejects with a GatewayError
 * (server/errors.ts) and nothing else: `InvalidKey` for a key that breaks the
 * rules of storage/keys.ts, `NoSuchKey` for an absent object, `InternalError`
 * for a backend failure (keeping the backend's error as `cause`).
 */
export interface Store {
  /** For logs and messages only: callers ask `capabilities`, never the backend's name. */
  readonly kind: 'localfs' | 's3';

  readonly capabilities: StoreCapabilities;

  /** Returns `key` if this backend can keep an object there (storage/keys.ts plus the backend's own rules); `InvalidKey` otherwise. */
  checkKey(key: string): string;

  /**
   * Refuses, before any byte arrives, an object this backend could not keep: its key
   * (checkKey) and its metadata (s3: all of it within S3's 2 KB). `InvalidKey` or `InvalidArgument`.
   */
  checkNewObject(key: string, metadata: Record<string, string>): void;

  /**
   * Streams `body` into `key`, replacing any object there. Atomic: readers see the
   * old object or the new one, never a part. Resolves with the new object's info.
   * If `size` is given and the body's length differs, rejects with `InvalidArgument` and stores nothing.
   */
  put(key: string, body: Readable, options?: PutOptions): Promise<ObjectInfo>;

  /** Opens the object (or a range of it) for streaming. `NoSuchKey` if absent; `InvalidRange` if the range is past the end. */
  get(key: string, options?: GetOptions): Promise<GetResult>;

  /**
   * Optional: a conditional or range GET with one metadata read — `choose` sees the info of the
   * version whose bytes are then streamed. Stores without it are read by stat → get, checked by
   * etag (storage/read-chosen.ts, which callers use rather than this).
   */
  getChosen?(key: string, choose: ReadChoice): Promise<ChosenResult>;

  /** The object's info. `NoSuchKey` if absent. */
  stat(key: string): Promise<ObjectInfo>;

  /** Removes the object. Resolves also when it was absent (as S3). */
  delete(key: string): Promise<void>;

  /** One page of objects under `prefix`, in key byte order. */
  list(options?: ListOptions): Promise<ListResult>;

  /** Copies `from` to `to` inside the store, server-side where the backend can. `NoSuchKey` if `from` is absent. */
  copy(from: string, to: string, options?: CopyOptions): Promise<ObjectInfo>;

  /** A URL that lets its holder GET the object until it expires. */
  presignedGetUrl(key: string, options: PresignOptions): Promise<string>;

  /**
   * A URL that lets its holder PUT one body of `size` bytes (and `sha256`, when given) into `key`
   * until it expires, and the headers to send with it. The object carries `metadata.sha256`
   * (localfs: computed as the body streams; s3: when signed with one, the checksum S3 verified).
   */
  presignedPutUrl(key: string, options: PresignPutOptions): Promise<PresignedPut>;

  /** Resolves when the backend answers (for /readyz); rejects with `ServiceUnavailable` otherwise. */
  ping(): Promise<void>;
}
