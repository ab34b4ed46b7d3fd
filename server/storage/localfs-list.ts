import type { Dirent } from 'node:fs';
import { lstat, readdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.ts';
import { SIDECAR_SUFFIX } from './keys.ts';
import { errno, TEMP_DIR } from './localfs-paths.ts';

/** The cursor is the last key returned, base64url-encoded: opaque, URL-safe, exact in bytes. */
export const encodeCursor = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');
export function decodeCursor(cursor: string): Buffer {
  const bytes = Buffer.from(cursor, 'base64url');
  if (bytes.length === 0 || bytes.toString('base64url') !== cursor) throw errors.invalidArgument('invalid list cursor');
  return bytes;
}

/**
 * Candidate keys under `dir` in UTF-8 byte order of the full key, one directory read at a time.
 * A directory sorts as `name/`: every key inside it starts with that, so sorting entries that
 * way and descending depth-first yields exactly the byte order of the keys (`a-c` < `a/b`).
 */
export async function* walk(root: string, dir: string, prefix: Buffer, after: Buffer | undefined): AsyncGenerator<string> {
  const abs = dir ? join(root, ...dir.split('/')) : root;
  let entries: Dirent[];
  try {
    if (dir && (await realpath(abs)) !== abs) return; // a symlinked directory holds no objects
    entries = await readdir(abs, { withFileTypes: true });
  } catch (err) {
    if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return;
    throw err;
  }
  const items: { key: string; isDir: boolean; sortKey: Buffer }[] = [];
  for (const d of entries) {
    const key = dir ? `${dir}/${d.name}` : d.name;
    let isDir = d.isDirectory();
    let isFile = d.isFile();
    if (!isDir && !isFile && !d.isSymbolicLink()) {
      const st = await lstat(join(abs, d.name)).catch(() => null); // filesystems that give no d_type
      isDir = !!st?.isDirectory();
      isFile = !!st?.isFile();
    }
    if (isDir ? key === TEMP_DIR : !isFile || d.name.endsWith(SIDECAR_SUFFIX)) continue;
    const sortKey = Buffer.from(isDir ? `${key}/` : key);
    const startsWith = (a: Buffer, b: Buffer) => a.subarray(0, b.length).equals(b);
    if (!startsWith(sortKey, prefix) && !(isDir && startsWith(prefix, sortKey))) continue;
    if (after && Buffer.compare(sortKey, after) <= 0 && !(isDir && startsWith(after, sortKey))) continue;
    items.push({ key, isDir, sortKey });
  }
  items.sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
  for (const item of items) {
    if (item.isDir) yield* walk(root, item.key, prefix, after);
    else yield item.key;
  }
}
