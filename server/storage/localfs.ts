import { randomUUID } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { access, copyFile, lstat, unlink } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { errors, isGatewayError } from '../errors.ts';
import { validateKey, validatePrefix } from './keys.ts';
import { decodeCursor, encodeCursor, walk } from './localfs-list.ts';
import { fsyncDir } from '../util/small-files.ts';
import { checkParent, errno, locate, prepareRoot, prepareWrite, prune, TEMP_DIR, translate } from './localfs-paths.ts';
import { Committer } from './localfs-commit.ts';
import { ObjectReader } from './localfs-read.ts';
import { adoptFile, writeBody } from './localfs-write.ts';
import { signStorageUrl, type SignedMethod } from './signing.ts';
import { checkPutBinding } from './presign-binding.ts';
import {
  type ChosenResult, type CopyOptions, type GetOptions, type GetResult, type ImportFileOptions, type ListOptions, type ListResult,
  listLimit, type ObjectInfo, type PresignedPut, type PresignOptions, type PresignPutOptions, type PutOptions, type ReadChoice,
  type Store, type StoreCapabilities,
} from './store.ts';

/*
 * Layout, temp directory, the commit protocol and the symlink rule: localfs-commit.ts (writes)
 * and localfs-read.ts (reads, with the sidecar cache). This file puts them together as a Store.
 */

export { TEMP_DIR };
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const READ_CHUNK = 1024 * 1024;

// Declared with the Store's capabilities (store.ts); re-exported for the callers of importFile.
export type { ImportFileOptions };

export interface LocalFsStoreOptions {
  root: string;
  publicUrl: string;
  signingSecret: string;
  /** Temp files untouched (ctime) for this long are removed at start-up. Default 1 hour. */
  staleTempAgeMs?: number;
}

/** docs/api.md §3: "a quoted strong validator derived from the sha256". */
export const etagFromSha256 = (hex: string): string => `"${hex.slice(0, 32).toLowerCase()}"`;

export class LocalFsStore implements Store {
  readonly kind = 'localfs' as const;
  readonly capabilities: StoreCapabilities = {
    importFile: (path, key, options) => this.importFile(path, key, options),
    copyFromS3Datastore: false,
    // The gateway signs and checks its own URLs (signing.ts): only signing.maxTtl limits them.
    maxPresignSeconds: Number.POSITIVE_INFINITY,
  };
  private readonly reader = new ObjectReader();
  private readonly committer: Committer;

  /** Use createLocalFsStore(): `root` must already be a real (symlink-free) absolute path. */
  constructor(
    readonly root: string,
    private readonly publicUrl: string,
    private readonly signingSecret: string,
  ) {
    this.capabilities.localDirectory = root;
    this.committer = new Committer(root, (key) => this.reader.forget(key));
  }

  private get tmpDir(): string {
    return this.committer.tmpDir;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<ObjectInfo> {
    try {
      const loc = locate(this.root, key);
      const expected = options.size;
      if (expected !== undefined && !(Number.isSafeInteger(expected) && expected >= 0)) throw errors.invalidArgument('size must be a non-negative integer');
      await prepareWrite(this.root, loc, key);
      let tmp: string | undefined;
      try {
        const written = await writeBody(this.tmpDir, body, options);
        tmp = written.tmp;
        const { contentType = DEFAULT_CONTENT_TYPE } = options;
        const metadata = options.recordSha256 ? { ...options.metadata, sha256: written.digest } : (options.metadata ?? {});
        return await this.committer.commit(key, loc, tmp, { size: written.size, contentType, etag: etagFromSha256(written.digest), metadata });
      } catch (err) {
        if (tmp) await unlink(tmp).catch(() => {});
        await prune(this.root, loc.dir); // the directories this put created, if nothing else went there
        throw err;
      }
    } catch (err) {
      throw translate(err, key, 'write');
    }
  }

  /** docs/api.md §3: on localfs a key never ends in `.meta.json`, the name of its sidecar. */
  checkKey(key: string): string {
    return validateKey(key, { localfs: true });
  }

  /** A sidecar holds any metadata: only the key has rules of its own here. */
  checkNewObject(key: string): void {
    this.checkKey(key);
  }

  /** StoreCapabilities.importFile (store.ts). */
  async importFile(path: string, key: string, options: ImportFileOptions): Promise<ObjectInfo> {
    try {
      const loc = locate(this.root, key);
      if (!/^[0-9a-f]{64}$/i.test(options.sha256)) throw errors.invalidArgument('sha256 must be 64 hex digits');
      await prepareWrite(this.root, loc, key);
      const adopted = await adoptFile(this.tmpDir, path, options);
      const { contentType = DEFAULT_CONTENT_TYPE, metadata = {} } = options;
      let info: ObjectInfo;
      try {
        info = await this.committer.commit(key, loc, adopted.tmp, { size: options.size, contentType, etag: etagFromSha256(options.sha256), metadata }, adopted.sourceDir);
      } catch (err) {
        await adopted.giveBack();
        throw err;
      }
      await adopted.done();
      return info;
    } catch (err) {
      throw translate(err, key, 'write');
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    return (await this.getChosen(key, () => options)) as GetResult;
  }

  /** One sidecar read (usually from the cache) for both the decision and the bytes (store.ts). */
  async getChosen(key: string, choose: ReadChoice): Promise<ChosenResult> {
    try {
      const { info, fh } = await this.reader.read(key, locate(this.root, key), true);
      let choice: GetOptions | null;
      try {
        choice = choose(info);
        const range = choice?.range;
        if (range && !(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.start <= range.end && range.start < info.size)) {
          throw errors.invalidRange(info.size);
        }
      } catch (err) {
        await fh!.close();
        throw err;
      }
      if (choice === null) {
        await fh!.close();
        return { info };
      }
      // 1 MiB reads (fs streams default to 64 KiB): 16× fewer pool jobs and socket writes per byte
      // served. Memory stays bounded: the socket's backpressure pauses the stream after one read.
      if (!choice.range) return { info, body: fh!.createReadStream({ highWaterMark: READ_CHUNK }) };
      const range = { start: choice.range.start, end: Math.min(choice.range.end, info.size - 1) };
      return { info, body: fh!.createReadStream({ ...range, highWaterMark: READ_CHUNK }), range };
    } catch (err) {
      throw translate(err, key, 'read');
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    try {
      return (await this.reader.read(key, locate(this.root, key), false)).info;
    } catch (err) {
      throw translate(err, key, 'read');
    }
  }

  async delete(key: string): Promise<void> {
    try {
      const loc = locate(this.root, key);
      await this.committer.withKeyLock(key, async () => {
        const stats = [];
        for (const path of [loc.sidecar, loc.data]) {
          const st = await lstat(path).catch((err) => (['ENOENT', 'ENOTDIR'].includes(errno(err)!) ? null : Promise.reject(err)));
          if (st?.isSymbolicLink()) throw errors.symlinkOnPath(key);
          stats.push(st);
        }
        if (stats.every((st) => !st)) return; // absent: fine, as S3
        await checkParent(loc.dir, key); // never unlink through a symlinked parent
        // Sidecar first: once it is gone the object is gone, whatever happens to the data.
        if (stats[0]?.isFile()) await unlink(loc.sidecar);
        if (stats[1]?.isFile()) await unlink(loc.data);
        // ENOENT: a concurrent delete of the directory's last other object pruned it already.
        await fsyncDir(loc.dir).catch((err) => (errno(err) === 'ENOENT' ? undefined : Promise.reject(err)));
        await prune(this.root, loc.dir);
      });
    } catch (err) {
      throw translate(err, key, 'write');
    }
  }

  async list(options: ListOptions = {}): Promise<ListResult> {
    const prefix = validatePrefix(options.prefix ?? '');
    const limit = listLimit(options.limit);
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    // Start in the deepest directory the prefix names; the rest of it filters names there.
    const startDir = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const objects: ObjectInfo[] = [];
    try {
      for await (const key of walk(this.root, startDir, Buffer.from(prefix), after)) {
        const info = await (async () => (await this.reader.read(key, locate(this.root, key), false)).info)().catch(
          // Not a committed object (no sidecar, torn, corrupt, symlinked, odd name): not listed.
          (err) => (isGatewayError(err) || ['ENOENT', 'ENOTDIR', 'ELOOP', 'EISDIR'].includes(errno(err)!) ? null : Promise.reject(err)),
        );
        if (!info) continue;
        if (objects.length === limit) return { objects, nextCursor: encodeCursor(objects[limit - 1]!.key) };
        objects.push(info);
      }
    } catch (err) {
      throw translate(err, prefix, 'read');
    }
    return { objects };
  }

  /**
   * A real copy into a fresh inode (reflinked where the filesystem can). A hard link would be
   * cheaper, but the two names would share one mtime, and the mtime is half of the commit check.
   */
  async copy(from: string, to: string, options: CopyOptions = {}): Promise<ObjectInfo> {
    try {
      const src = locate(this.root, from);
      const dst = locate(this.root, to);
      for (let attempt = 1; attempt <= 3; attempt++) {
        const { info, fh } = await this.reader.read(from, src, true).catch((err) => Promise.reject(translate(err, from, 'read')));
        const tmp = join(this.tmpDir, randomUUID());
        try {
          await prepareWrite(this.root, dst, to);
          await copyFile(src.data, tmp, fsc.COPYFILE_FICLONE);
          // copyFile opened the path itself: it copied the verified bytes only if the path still names the
          // inode we hold open (data inodes are never written in place, nor renamed back once replaced).
          const [now, held] = await Promise.all([lstat(src.data), fh!.stat()]);
          if (now.ino !== held.ino || now.dev !== held.dev) {
            await unlink(tmp);
            continue; // the source was replaced mid-copy: copy its new version
          }
          const { contentType = info.contentType, metadata = info.metadata } = options;
          return await this.committer.commit(to, dst, tmp, { size: info.size, etag: info.etag, contentType, metadata });
        } catch (err) {
          await unlink(tmp).catch(() => {});
          throw err;
        } finally {
          await fh!.close();
        }
      }
      throw errors.internal(`${from} kept changing while being copied`);
    } catch (err) {
      throw translate(err, to, 'write');
    }
  }

  private presign(method: SignedMethod, key: string, { expiresIn, baseUrl }: PresignOptions, body: { size?: number; sha256?: string; overwrite?: boolean } = {}): string {
    locate(this.root, key);
    if (!(Number.isFinite(expiresIn) && expiresIn > 0)) throw errors.invalidArgument('expiresIn must be a positive number of seconds');
    const expiresAt = new Date(Date.now() + expiresIn * 1000);
    return signStorageUrl({ publicUrl: baseUrl ?? this.publicUrl, secret: this.signingSecret, method, key, expiresAt, ...body });
  }

  async presignedGetUrl(key: string, options: PresignOptions): Promise<string> {
    return this.presign('GET', key, options);
  }

  /** The size and sha256 are in the URL and its HMAC; /storage checks the body against both (http/storage.ts). */
  async presignedPutUrl(key: string, options: PresignPutOptions): Promise<PresignedPut> {
    const { size, sha256 } = checkPutBinding(options);
    const url = this.presign('PUT', key, options, { size, ...(sha256 ? { sha256 } : {}), ...(options.overwrite ? { overwrite: true } : {}) });
    const headers: Record<string, string> = { 'Content-Length': String(size) };
    if (options.contentType) headers['Content-Type'] = options.contentType;
    return { url, headers };
  }

  async ping(): Promise<void> {
    try {
      for (const dir of [this.root, this.tmpDir]) {
        if (!(await lstat(dir)).isDirectory()) throw new Error(`${dir} is not a directory`);
        await access(dir, fsc.W_OK);
      }
    } catch (err) {
      throw errors.unavailable(`local storage is not a writable directory: ${this.root}`, err);
    }
  }
}

/** Creates the root (and its temp directory) if needed, sweeps stale temp files, and returns the store. */
export async function createLocalFsStore(options: LocalFsStoreOptions): Promise<LocalFsStore> {
  if (!options.signingSecret) throw errors.invalidArgument('createLocalFsStore: signingSecret must not be empty');
  if (sep !== '/') throw errors.internal('the localfs store needs a POSIX filesystem layout');
  try {
    const root = await prepareRoot(options.root, options.staleTempAgeMs ?? 3_600_000);
    return new LocalFsStore(root, options.publicUrl, options.signingSecret);
  } catch (err) {
    throw errors.internal(`cannot prepare local storage at ${options.root}: ${(err as Error).message}`, err);
  }
}
