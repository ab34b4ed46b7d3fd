import { open } from 'node:fs/promises';
import { native } from '../tus/native-addon.ts';

/*
 * Small files written durably, and directories flushed: the records, the tus infos, the localfs
 * sidecars and the commits' directories. With the addon each is one libuv pool job
 * (native/sha256/file_ops.c says why); without it, node:fs, the same results in more jobs.
 */

/**
 * Creates or truncates `path` (`exclusive`: creates only — O_EXCL, never through a symlink),
 * writes `data`, fdatasyncs when `flush`, closes. Errors carry node:fs's `code`.
 */
export async function writeSmallFile(path: string, data: Buffer, options: { flush?: boolean; exclusive?: boolean } = {}): Promise<void> {
  const { flush = false, exclusive = false } = options;
  if (native?.writeFileAsync) return native.writeFileAsync(path, data, flush, exclusive);
  const fh = await open(path, exclusive ? 'wx' : 'w', 0o644);
  try {
    await fh.writeFile(data);
    if (flush) await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** fsync of a directory, so that the names created or renamed in it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  if (native?.syncDirAsync) return native.syncDirAsync(dir);
  const fh = await open(dir, 'r');
  try {
    // fsync, not fdatasync: the directory's entries are what must reach the disk.
    await fh.sync();
  } catch (err) {
    // Some filesystems cannot fsync a directory (EINVAL): nothing more can be done there.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
  } finally {
    await fh.close();
  }
}
