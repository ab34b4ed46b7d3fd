import { constants as fsc } from 'node:fs';
import { lstat, mkdir, readdir, realpath, rm, rmdir } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { errors, type GatewayError, isGatewayError } from '../errors.ts';
import { SIDECAR_SUFFIX, validateKey } from './keys.ts';

/*
 * Where a key lives under the store's root, reached without following a symbolic link, and
 * the durable-write helpers of the commit protocol. The layout, the temp directory and the
 * symlink rule are described at the top of localfs.ts.
 */

/** The temp directory's name, `.tmp\` (see localfs.ts). POSIX only: on Windows a backslash separates. */
export const TEMP_DIR = '.tmp\\';
const NAME_MAX = 255; // bytes per path component on ext4, xfs, btrfs, tmpfs
// O_NONBLOCK: a FIFO planted at an object's path must not hang the open (no effect on regular files).
export const READ_NOFOLLOW = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;

export interface Location {
  data: string;
  sidecar: string;
  dir: string;
}

export const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

export function locate(root: string, key: string): Location {
  validateKey(key, { localfs: true });
  const segments = key.split('/');
  const last = segments.length - 1;
  segments.forEach((seg, i) => {
    const max = i === last ? NAME_MAX - SIDECAR_SUFFIX.length : NAME_MAX;
    if (Buffer.byteLength(seg) > max) throw errors.invalidKey(`segment longer than ${max} bytes (a local filesystem limit)`);
  });
  const data = join(root, ...segments);
  if (!data.startsWith(root + sep)) throw errors.invalidKey('key resolves outside the store'); // defence in depth
  return { data, sidecar: data + SIDECAR_SUFFIX, dir: dirname(data) };
}

/** For reads: the parent directory exists and no component of it is a symlink. */
export async function checkParent(dir: string, key: string): Promise<void> {
  if ((await realpath(dir)) !== dir) throw errors.symlinkOnPath(key);
}

/**
 * For writes: creates missing parents one level at a time, refusing symlinks and files on the way.
 * A concurrent delete prunes directories it emptied (prune below): a parent can vanish between
 * two steps of the walk (ENOENT), and the walk starts again — it only ever creates.
 */
export async function ensureParents(root: string, dir: string, key: string): Promise<void> {
  // The common case in one pool job: every parent exists and none is a symlink (the root is a
  // real path: prepareRoot). A file on the way is left to the write, which fails with ENOTDIR (KeyClash).
  if ((await realpath(dir).catch(() => undefined)) === dir) return;
  for (let attempt = 1; ; attempt++) {
    try {
      return await walkParents(root, dir, key);
    } catch (err) {
      if (errno(err) !== 'ENOENT' || attempt === 5) throw err;
    }
  }
}

async function walkParents(root: string, dir: string, key: string): Promise<void> {
  let cur = root;
  for (const seg of dir.slice(root.length).split(sep).filter(Boolean)) {
    cur = join(cur, seg);
    try {
      await mkdir(cur);
      continue;
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
    }
    const st = await lstat(cur);
    if (st.isSymbolicLink()) throw errors.symlinkOnPath(key);
    if (!st.isDirectory()) throw errors.keyClash(key);
  }
}

export async function prepareWrite(root: string, loc: Location, key: string): Promise<void> {
  await ensureParents(root, loc.dir, key);
  const names = await Promise.all([loc.data, loc.sidecar].map((path) => lstat(path).catch((err) => (errno(err) === 'ENOENT' ? null : Promise.reject(err)))));
  for (const st of names) {
    if (st?.isSymbolicLink()) throw errors.symlinkOnPath(key);
    if (st && !st.isFile()) throw errors.keyClash(key);
  }
}

/** Removes now-empty directories from `dir` up to (not including) the root; stops at the first non-empty one. */
export async function prune(root: string, dir: string): Promise<void> {
  for (; dir.startsWith(root + sep); dir = dirname(dir)) {
    if (!(await rmdir(dir).then(() => true, () => false))) return;
  }
}

/** Every error leaving the store is a GatewayError; `read` maps a missing path to NoSuchKey. */
export function translate(err: unknown, key: string, op: 'read' | 'write'): GatewayError {
  if (isGatewayError(err)) return err;
  const code = errno(err);
  if (op === 'read' && (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR')) return errors.noSuchKey(key);
  if (code === 'ELOOP') return errors.symlinkOnPath(key);
  if (code === 'ENOTDIR' || code === 'EISDIR' || code === 'EEXIST' || code === 'ENOTEMPTY') return errors.keyClash(key);
  if (code === 'ENOSPC' || code === 'EDQUOT') return errors.internal('no space left on the storage volume', err);
  return errors.internal(`local storage failed (${code ?? (err as Error)?.message ?? 'unknown'})`, err);
}

/**
 * Creates the root and its temp directory if needed and removes the temp files a crash left;
 * resolves with the root's real path. The root itself may be a symlink (an operator's choice);
 * everything below it may not.
 */
export async function prepareRoot(rootOption: string, staleTempAgeMs: number): Promise<string> {
  await mkdir(resolve(rootOption), { recursive: true });
  const root = await realpath(resolve(rootOption));
  const tmpDir = join(root, TEMP_DIR);
  await mkdir(tmpDir, { recursive: true });
  if (!(await lstat(tmpDir)).isDirectory()) throw new Error(`${tmpDir} must be a directory, not a symlink`);
  // Leftovers of a crash. Age by ctime (any write or rename touches it), so a temp file still
  // being written by another process sharing this root is not taken for one.
  for (const name of await readdir(tmpDir)) {
    const st = await lstat(join(tmpDir, name)).catch(() => null);
    if (st && Date.now() - st.ctimeMs >= staleTempAgeMs) await rm(join(tmpDir, name), { recursive: true, force: true });
  }
  return root;
}
