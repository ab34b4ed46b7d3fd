import type { Stats } from 'node:fs';
import { type FileHandle, lstat, open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors } from '../errors.ts';
import { checkParent, type Location, READ_NOFOLLOW } from './localfs-paths.ts';
import { consistent, readSidecar, type Sidecar, toInfo } from './localfs-sidecar.ts';
import type { ObjectInfo } from './store.ts';

/*
 * The read side of the commit protocol (localfs-commit.ts), with a small cache of sidecars so
 * that a read of a known object costs one open and one fstat of the data, beside one lstat of
 * the sidecar (the two in parallel) — not a realpath, an open + read + close of the sidecar,
 * and the open + fstat of the data, one after the other.
 *
 * A cache entry is a sidecar that passed the full check, together with the identity of both
 * files at that moment: device, inode, size, mtime and ctime (nanosecond timestamps on Linux).
 * A hit requires both files to show exactly that identity again. Every way the store writes
 * — a commit renames a new inode over each name, a delete unlinks them — changes it, and so
 * does any other writer (another process, an operator's editor: a write or rename changes the
 * mtime or ctime); so a replaced object is never served with the old sidecar, even if an
 * invalidation were missed. Commits and deletes in this process also drop the key
 * (Committer's `changed`), which keeps the cache to live objects.
 *
 * A hit skips the realpath of the parent (the symlink rule): a descriptor whose fstat shows
 * the device, inode and ctime of the file verified through a symlink-free path IS that file
 * (a rename or link of it changes its ctime), so whatever path led to it, the bytes served
 * are the verified ones.
 */

const TORN_RETRIES = 3;
/** Entries kept (least recently used dropped first): ~0.5 KiB each, so at most about 2 MiB. */
const CACHE_ENTRIES = 4096;

interface FileId {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

const idOf = (st: Stats): FileId => ({ dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs });
const same = (a: FileId, st: Stats): boolean =>
  a.dev === st.dev && a.ino === st.ino && a.size === st.size && a.mtimeMs === st.mtimeMs && a.ctimeMs === st.ctimeMs;

interface Entry {
  side: Sidecar;
  data: FileId;
  sidecar: FileId;
}

export interface ReadResult {
  info: ObjectInfo;
  /** The open data, when asked for: its fstat is the one checked, so its bytes are the verified ones. */
  fh?: FileHandle;
}

export class ObjectReader {
  private readonly cache = new Map<string, Entry>();

  /** Drops `key` (a commit or delete of it is under way or done). */
  forget(key: string): void {
    this.cache.delete(key);
  }

  /** A committed object's info (and its open data with `keepOpen`), checked as the commit protocol says. */
  async read(key: string, loc: Location, keepOpen: boolean): Promise<ReadResult> {
    const cached = this.cache.get(key);
    if (cached) {
      const hit = await this.fromCache(cached, loc, keepOpen);
      if (hit) {
        this.cache.delete(key); // re-insert: the Map's order is the recency order
        this.cache.set(key, cached);
        return hit;
      }
      this.cache.delete(key);
    }
    return this.readChecked(key, loc, keepOpen);
  }

  /** Both files as the entry knows them, or undefined (then the full check runs). */
  private async fromCache(entry: Entry, loc: Location, keepOpen: boolean): Promise<ReadResult | undefined> {
    const openData = async () => {
      if (!keepOpen) return { st: await lstat(loc.data) };
      const fh = await open(loc.data, READ_NOFOLLOW);
      try {
        return { fh, st: await fh.stat() };
      } catch (err) {
        await fh.close();
        throw err;
      }
    };
    const [data, side] = await Promise.allSettled([openData(), lstat(loc.sidecar)]);
    if (data.status === 'fulfilled' && side.status === 'fulfilled' && same(entry.data, data.value.st) && same(entry.sidecar, side.value)) {
      return { info: toInfo(entry.side.key, entry.side), fh: data.value.fh };
    }
    if (data.status === 'fulfilled') await data.value.fh?.close();
    return undefined;
  }

  private async readChecked(key: string, loc: Location, keepOpen: boolean): Promise<ReadResult> {
    // The symlink rule and the first sidecar read side by side (a creation's existence check is
    // both, before every 201): what was read is used only once the parent has passed.
    const [parent, first] = await Promise.allSettled([checkParent(loc.dir, key), readSidecar(loc.sidecar, key)]);
    if (parent.status === 'rejected') throw parent.reason;
    if (first.status === 'rejected') throw first.reason;
    let { side, st: sideSt } = first.value;
    for (let attempt = 1; ; attempt++) {
      const fh = keepOpen ? await open(loc.data, READ_NOFOLLOW) : undefined;
      const st = await (fh ? fh.stat() : lstat(loc.data)).catch(async (err) => {
        await fh?.close();
        throw err;
      });
      if (st.isSymbolicLink()) throw errors.symlinkOnPath(key); // lstat only: O_NOFOLLOW already refused one
      if (consistent(st, side)) {
        this.remember(key, { side, data: idOf(st), sidecar: idOf(sideSt) });
        return { info: toInfo(key, side), fh };
      }
      await fh?.close();
      if (attempt === TORN_RETRIES) throw errors.noSuchKey(key); // torn by a crash mid-commit
      await sleep(5 * attempt);
      ({ side, st: sideSt } = await readSidecar(loc.sidecar, key));
    }
  }

  private remember(key: string, entry: Entry): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
  }
}
