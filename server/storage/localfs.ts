import { createHash, randomUUID } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { access, copyFile, lstat, mkdir, open, readdir, realpath, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors, GatewayError, isGatewayError } from '../errors.ts';
import { validateKey, validatePrefix } from './keys.ts';
import { decodeCursor, encodeCursor, walk } from './localfs-list.ts';
import {
  checkParent,
  ensureParents,
  errno,
  fsyncDir,
  locate,
  type Location,
  prepareWrite,
  prune,
  READ_NOFOLLOW,
  TEMP_DIR,
  writeDurable,
} from './localfs-paths.ts';
import { consistent, readSidecar, type Sidecar, toInfo } from './localfs-sidecar.ts';
import { signStorageUrl, type SignedMethod } from './signing.ts';
import { checkPutBinding } from './presign-binding.ts';
import type {
  CopyOptions,
  GetOptions,
  GetResult,
  ImportFileOptions,
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

/*
 * Layout (docs/api.md §3): bytes at {root}/{key}, metadata at {root}/{key}.meta.json.
 *
 * Temporary files live in the directory `{root}/.tmp\` (TEMP_DIR): inside the root, so on
 * the same filesystem and rename() is atomic. Its trailing backslash makes it a name no key
 * can take — keys.ts refuses backslashes, and every other name (".tmp" included) is a valid
 * key — so a temp file can never collide with an object nor be listed as one.
 *
 * Commit protocol. Two names cannot be replaced by one atomic rename, so the
 * SIDECAR IS THE COMMIT RECORD and every reader checks the data against it:
 *   1. the data is written to the temp directory, fsynced;
 *   2. under a per-key lock, its mtime is stamped with the new lastModified (strictly
 *      increasing within this process), the sidecar recording that lastModified and
 *      the size is written to the temp directory and fsynced;
 *   3. rename data into place, 4. rename sidecar into place, 5. fsync the directory.
 * Between 3 and 4 (or after a crash there) the data is NEWER than its sidecar says:
 * its mtime is later than the sidecar's lastModified, or its size differs. Readers
 * read the sidecar first, then open the data and fstat the open descriptor; if the
 * two disagree they retry briefly (a writer is mid-commit), then answer NoSuchKey:
 * the previous version's bytes are gone, and serving new bytes under the old etag
 * would be worse than a 404. A later put or delete of the key repairs it.
 * Delete removes the sidecar first, so a crash mid-delete leaves unlisted data only.
 * Limits: writers in other processes sharing the root are not serialized, and a
 * clock jumping backwards can defeat the mtime check for that moment.
 *
 * Symbolic links are refused anywhere under the root (AccessDenied): parents are
 * checked with realpath (reads) or lstat per component (writes), final names are
 * opened with O_NOFOLLOW or lstat'ed.
 */

export { TEMP_DIR };
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const TORN_RETRIES = 3;

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

/** Every error leaving the store is a GatewayError; `read` maps a missing path to NoSuchKey. */
function translate(err: unknown, key: string, op: 'read' | 'write'): GatewayError {
  if (isGatewayError(err)) return err;
  const code = errno(err);
  if (op === 'read' && (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR')) return errors.noSuchKey(key);
  if (code === 'ELOOP') return errors.symlinkOnPath(key);
  if (code === 'ENOTDIR' || code === 'EISDIR' || code === 'EEXIST' || code === 'ENOTEMPTY') return errors.keyClash(key);
  if (code === 'ENOSPC' || code === 'EDQUOT') return errors.internal('no space left on the storage volume', err);
  return errors.internal(`local storage failed (${code ?? (err as Error)?.message ?? 'unknown'})`, err);
}

export class LocalFsStore implements Store {
  readonly kind = 'localfs' as const;
  readonly capabilities: StoreCapabilities = {
    importFile: (path, key, options) => this.importFile(path, key, options),
    copyFromS3Datastore: false,
    // The gateway signs and checks its own URLs (signing.ts): only signing.maxTtl limits them.
    maxPresignSeconds: Number.POSITIVE_INFINITY,
  };
  private readonly locks = new Map<string, Promise<void>>();
  private lastStamp = 0;

  /** Use createLocalFsStore(): `root` must already be a real (symlink-free) absolute path. */
  constructor(
    readonly root: string,
    private readonly publicUrl: string,
    private readonly signingSecret: string,
  ) {}

  private get tmpDir(): string {
    return join(this.root, TEMP_DIR);
  }

  /** Serializes commits and deletes of one key, so two writers never interleave their two renames. */
  private async withKeyLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.locks.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }

  /**
   * Reads a committed object: sidecar first, then the data, checked against each other
   * (see the commit protocol above). With `keepOpen`, the data stays open for streaming, and
   * it is that open descriptor's fstat that was checked, so the bytes served are the ones verified.
   */
  private async readObject(key: string, loc: Location, keepOpen: boolean) {
    await checkParent(loc.dir, key);
    for (let attempt = 1; ; attempt++) {
      const side = await readSidecar(loc.sidecar, key);
      const fh = keepOpen ? await open(loc.data, READ_NOFOLLOW) : undefined;
      const st = await (fh ? fh.stat() : lstat(loc.data)).catch(async (err) => {
        await fh?.close();
        throw err;
      });
      if (st.isSymbolicLink()) throw errors.symlinkOnPath(key); // lstat only: O_NOFOLLOW already refused one
      if (consistent(st, side)) return { info: toInfo(key, side), fh };
      await fh?.close();
      if (attempt === TORN_RETRIES) throw errors.noSuchKey(key); // torn by a crash mid-commit
      await sleep(5 * attempt);
    }
  }

  /** Strictly increasing lastModified values within this process, so a newer commit always looks newer. */
  private nextStamp(): number {
    this.lastStamp = Math.max(Date.now(), this.lastStamp + 1);
    return this.lastStamp;
  }

  /** Steps 2–5 of the commit protocol for a complete, fsynced data file in the temp directory. */
  private async commit(key: string, loc: Location, tmp: string, fields: Omit<Sidecar, 'key' | 'lastModified'>) {
    return this.withKeyLock(key, async () => {
      const stamp = this.nextStamp();
      const fh = await open(tmp, 'r');
      let mtimeMs: number;
      try {
        // +0.5 ms so the float round trip through seconds can never floor below `stamp`.
        await fh.utimes((stamp + 0.5) / 1000, (stamp + 0.5) / 1000);
        await fh.sync();
        mtimeMs = (await fh.stat()).mtimeMs;
      } finally {
        await fh.close();
      }
      const lastModified = new Date(Math.floor(mtimeMs)).toISOString();
      const { size, contentType, etag, metadata } = fields; // the sidecar's field order is docs/api.md §3's
      const side: Sidecar = { key, size, contentType, etag, lastModified, metadata };
      const sideTmp = join(this.tmpDir, `${randomUUID()}.json`);
      await writeDurable(sideTmp, JSON.stringify(side));
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            await rename(tmp, loc.data);
            break;
          } catch (err) {
            // A concurrent delete may have pruned the (then empty) parent directory.
            if (errno(err) !== 'ENOENT' || attempt === 3) throw err;
            await ensureParents(this.root, loc.dir, key);
          }
        }
        await rename(sideTmp, loc.sidecar);
      } catch (err) {
        await unlink(sideTmp).catch(() => {});
        throw err;
      }
      await fsyncDir(loc.dir);
      await fsyncDir(this.tmpDir);
      return toInfo(key, side);
    });
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<ObjectInfo> {
    try {
      const loc = locate(this.root, key);
      const expected = options.size;
      if (expected !== undefined && !(Number.isSafeInteger(expected) && expected >= 0)) throw errors.invalidArgument('size must be a non-negative integer');
      await prepareWrite(this.root, loc, key);
      const tmp = join(this.tmpDir, randomUUID());
      const fh = await open(tmp, 'wx');
      try {
        const hash = createHash('sha256');
        let size = 0;
        let digest: string;
        try {
          // One pass: every chunk is hashed (for the etag) and counted as it is written. On a refusal the
          // body is left as it is, not destroyed: an HTTP caller still wants to answer on its socket.
          for await (const chunk of body.iterator({ destroyOnReturn: false })) {
            const buf: Buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
            size += buf.length;
            if (expected !== undefined && size > expected) break; // stop reading at once
            hash.update(buf);
            for (let off = 0; off < buf.length; ) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
          }
          if (expected !== undefined && size !== expected) throw errors.invalidArgument(`body length differs from the declared size ${expected}`);
          digest = hash.digest('hex');
          // Checked before the commit: a body with another digest never becomes the object.
          const want = options.sha256?.toLowerCase();
          if (want !== undefined && want !== digest) throw errors.badDigest(want, digest);
          await fh.sync(); // the bulk flush, outside the key lock
        } finally {
          await fh.close();
        }
        const { contentType = DEFAULT_CONTENT_TYPE } = options;
        const metadata = options.recordSha256 ? { ...options.metadata, sha256: digest } : (options.metadata ?? {});
        return await this.commit(key, loc, tmp, { size, contentType, etag: etagFromSha256(digest), metadata });
      } catch (err) {
        await unlink(tmp).catch(() => {});
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
      // Only a regular file of the announced size is adopted: renaming a symlink would plant it in the store.
      const source = resolve(path);
      const src = await open(source, READ_NOFOLLOW).catch((err) =>
        Promise.reject(errno(err) === 'ELOOP' ? errors.invalidArgument(`${path} is a symbolic link`) : errors.internal(`cannot open ${path}`, err)),
      );
      try {
        const st = await src.stat();
        if (!st.isFile()) throw errors.invalidArgument(`${path} is not a regular file`);
        if (st.size !== options.size) throw errors.invalidArgument(`${path} has ${st.size} bytes, expected ${options.size}`);
        await src.sync();
      } finally {
        await src.close();
      }
      const tmp = join(this.tmpDir, randomUUID());
      let moved = true;
      try {
        await rename(source, tmp);
      } catch (err) {
        if (errno(err) !== 'EXDEV') throw err;
        moved = false; // another filesystem: copy (copyFile uses copy_file_range / sendfile in the kernel)
        await copyFile(source, tmp);
      }
      const { contentType = DEFAULT_CONTENT_TYPE, metadata = {} } = options;
      let info: ObjectInfo;
      try {
        info = await this.commit(key, loc, tmp, { size: options.size, contentType, etag: etagFromSha256(options.sha256), metadata });
      } catch (err) {
        // Give the file back so the caller can retry the finalization.
        await (moved ? rename(tmp, source) : unlink(tmp)).catch(() => {});
        throw err;
      }
      if (!moved) await unlink(source);
      await fsyncDir(dirname(source)).catch(() => {});
      return info;
    } catch (err) {
      throw translate(err, key, 'write');
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    try {
      const { info, fh } = await this.readObject(key, locate(this.root, key), true);
      const range = options.range;
      if (!range) return { info, body: fh!.createReadStream() };
      const { start } = range;
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(range.end) || start < 0 || range.end < start || start >= info.size) {
        await fh!.close();
        throw errors.invalidRange(info.size);
      }
      const end = Math.min(range.end, info.size - 1);
      return { info, body: fh!.createReadStream({ start, end }), range: { start, end } };
    } catch (err) {
      throw translate(err, key, 'read');
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    try {
      return (await this.readObject(key, locate(this.root, key), false)).info;
    } catch (err) {
      throw translate(err, key, 'read');
    }
  }

  async delete(key: string): Promise<void> {
    try {
      const loc = locate(this.root, key);
      await this.withKeyLock(key, async () => {
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
        await fsyncDir(loc.dir);
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
        const info = await (async () => (await this.readObject(key, locate(this.root, key), false)).info)().catch(
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
        const { info, fh } = await this.readObject(from, src, true).catch((err) => Promise.reject(translate(err, from, 'read')));
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
          return await this.commit(to, dst, tmp, { size: info.size, etag: info.etag, contentType, metadata });
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

  private presign(method: SignedMethod, key: string, { expiresIn, baseUrl }: PresignOptions, body: { size?: number; sha256?: string } = {}): string {
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
    const url = this.presign('PUT', key, options, { size, ...(sha256 ? { sha256 } : {}) });
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
    await mkdir(resolve(options.root), { recursive: true });
    // The root itself may be a symlink (an operator's choice); everything below it may not.
    const root = await realpath(resolve(options.root));
    const tmpDir = join(root, TEMP_DIR);
    await mkdir(tmpDir, { recursive: true });
    if (!(await lstat(tmpDir)).isDirectory()) throw new Error(`${tmpDir} must be a directory, not a symlink`);
    // Leftovers of a crash. Age by ctime (any write or rename touches it), so a temp file still
    // being written by another process sharing this root is not taken for one.
    const maxAge = options.staleTempAgeMs ?? 3_600_000;
    for (const name of await readdir(tmpDir)) {
      const st = await lstat(join(tmpDir, name)).catch(() => null);
      if (st && Date.now() - st.ctimeMs >= maxAge) await rm(join(tmpDir, name), { recursive: true, force: true });
    }
    return new LocalFsStore(root, options.publicUrl, options.signingSecret);
  } catch (err) {
    throw errors.internal(`cannot prepare local storage at ${options.root}: ${(err as Error).message}`, err);
  }
}
