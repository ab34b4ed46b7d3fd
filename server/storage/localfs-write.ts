import { createHash, randomUUID } from 'node:crypto';
import type { Stats } from 'node:fs';
import { copyFile, link, lstat, open, rename, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { errors } from '../errors.ts';
import { fsyncDir } from '../util/small-files.ts';
import { errno, READ_NOFOLLOW } from './localfs-paths.ts';
import type { ImportFileOptions, PutOptions } from './store.ts';

/*
 * Step 1 of the commit protocol (localfs-commit.ts): a complete, fsynced data file in the
 * temp directory, from a streamed body (put) or from a finished file (importFile).
 */

export interface Written {
  tmp: string;
  size: number;
  /** Hex sha256 of the bytes written. */
  digest: string;
}

/**
 * Streams `body` into a new file in `tmpDir`, hashing and counting as it writes; refuses a body
 * longer or shorter than `options.size` or with another digest than `options.sha256`, and then
 * leaves no file behind.
 */
export async function writeBody(tmpDir: string, body: Readable, options: PutOptions): Promise<Written> {
  const expected = options.size;
  const tmp = join(tmpDir, randomUUID());
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
    return { tmp, size, digest };
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

export interface Adopted {
  tmp: string;
  /** Gives the file back (after a failed commit), so the caller can retry the finalization. */
  giveBack(): Promise<void>;
  /**
   * The directory the file was moved out of: the commit flushes it with its own (the source's
   * removal made durable), or undefined after a copy (then done() does it).
   */
  sourceDir: string | undefined;
  /** After the commit: removes the source of a copy, and makes its removal durable. */
  done(): Promise<void>;
}

/**
 * Moves the regular file at `path` into `tmpDir` by rename (a hard link with `keepSource`), or by
 * a copy when it is on another filesystem. Only a regular file of the announced size is adopted: renaming a symlink would plant
 * it in the store.
 */
export async function adoptFile(tmpDir: string, path: string, options: ImportFileOptions): Promise<Adopted> {
  const source = resolve(path);
  const keep = options.keepSource === true;
  const checked = (st: Stats) => {
    if (st.isSymbolicLink()) throw errors.invalidArgument(`${path} is a symbolic link`);
    if (!st.isFile()) throw errors.invalidArgument(`${path} is not a regular file`);
    if (st.size !== options.size) throw errors.invalidArgument(`${path} has ${st.size} bytes, expected ${options.size}`);
  };
  if (keep) {
    // Kept, the source keeps its name and nothing needs flushing here (the commit flushes the
    // bytes before they become the object): an lstat checks it (link() never follows a symlink).
    checked(await lstat(source).catch((err) => Promise.reject(errors.internal(`cannot stat ${path}`, err))));
  } else {
    const src = await open(source, READ_NOFOLLOW).catch((err) =>
      Promise.reject(errno(err) === 'ELOOP' ? errors.invalidArgument(`${path} is a symbolic link`) : errors.internal(`cannot open ${path}`, err)),
    );
    try {
      checked(await src.stat());
      // Flushed before it leaves its name: a power cut must not leave the caller's only name for
      // the bytes in the temp directory (removed at start-up) with the bytes not on disk.
      await src.sync();
    } finally {
      await src.close();
    }
  }
  const tmp = join(tmpDir, randomUUID());
  let moved = true;
  try {
    await (keep ? link(source, tmp) : rename(source, tmp));
  } catch (err) {
    if (errno(err) !== 'EXDEV') throw err;
    moved = false; // another filesystem: copy (copyFile uses copy_file_range / sendfile in the kernel)
    await copyFile(source, tmp);
  }
  return {
    tmp,
    giveBack: () => (moved && !keep ? rename(tmp, source) : unlink(tmp)).catch(() => {}),
    // A link leaves the source's directory as it was: nothing of it to flush.
    sourceDir: moved && !keep ? dirname(source) : undefined,
    async done() {
      if (moved || keep) return;
      await unlink(source);
      await fsyncDir(dirname(source)).catch(() => {});
    },
  };
}
