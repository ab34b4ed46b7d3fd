import { randomUUID } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, writeSmallFile } from '../util/small-files.ts';
import { ensureParents, errno, type Location, TEMP_DIR } from './localfs-paths.ts';
import { type Sidecar, toInfo } from './localfs-sidecar.ts';
import type { ObjectInfo } from './store.ts';

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
 *      the size is written to the temp directory, and the two are fsynced (in parallel:
 *      neither is under its name yet, so their order does not matter);
 *   3. rename data into place, 4. rename sidecar into place, 5. fsync the directory
 *      (and the temp directory they left, at the same time).
 * Between 3 and 4 (or after a crash there) the data is NEWER than its sidecar says:
 * its mtime is later than the sidecar's lastModified, or its size differs. Readers
 * read the sidecar first, then open the data and fstat the open descriptor; if the
 * two disagree they retry briefly (a writer is mid-commit), then answer NoSuchKey:
 * the previous version's bytes are gone, and serving new bytes under the old etag
 * would be worse than a 404. A later put or delete of the key repairs it.
 * Delete removes the sidecar first, so a crash mid-delete leaves unlisted data only.
 * Why this and not a journal or a database: the two files stay plain files an operator can
 * read, back up and rsync, and a reader needs no lock — the check is two fstat-able files.
 * Limits: writers in other processes sharing the root are not serialized, and a
 * clock jumping backwards can defeat the mtime check for that moment.
 *
 * Symbolic links are refused anywhere under the root (AccessDenied): parents are
 * checked with realpath (reads) or lstat per component (writes), final names are
 * opened with O_NOFOLLOW or lstat'ed. Reads served from the sidecar cache skip the realpath:
 * see localfs-read.ts for why that is the same check.
 */

export type CommitFields = Omit<Sidecar, 'key' | 'lastModified'>;

/** Steps 2–5 of the commit protocol, and the per-key lock that orders commits and deletes. */
export class Committer {
  private readonly locks = new Map<string, Promise<void>>();
  private lastStamp = 0;

  /** `changed(key)` runs under the key's lock before a commit or delete touches a name (the read cache drops the key). */
  constructor(
    private readonly root: string,
    private readonly changed: (key: string) => void,
  ) {}

  get tmpDir(): string {
    return join(this.root, TEMP_DIR);
  }

  /** Serializes commits and deletes of one key, so two writers never interleave their two renames. */
  async withKeyLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.locks.set(key, tail);
    await prev;
    try {
      this.changed(key);
      return await fn();
    } finally {
      this.changed(key); // also after: a reader that raced the change may have cached the old pair
      release();
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }

  /** Strictly increasing lastModified values within this process, so a newer commit always looks newer. */
  private nextStamp(): number {
    this.lastStamp = Math.max(Date.now(), this.lastStamp + 1);
    return this.lastStamp;
  }

  /**
   * Steps 2–5 for a complete data file `tmp` in the temp directory. `alsoSync`: another
   * directory whose entries changed for this commit (importFile's source), flushed with the others.
   */
  async commit(key: string, loc: Location, tmp: string, fields: CommitFields, alsoSync?: string): Promise<ObjectInfo> {
    return this.withKeyLock(key, async () => {
      const stamp = this.nextStamp();
      const fh = await open(tmp, 'r');
      try {
        // +0.5 ms so the float round trip through seconds can never floor below `stamp`.
        await fh.utimes((stamp + 0.5) / 1000, (stamp + 0.5) / 1000);
        const mtimeMs = (await fh.stat()).mtimeMs;
        const lastModified = new Date(Math.floor(mtimeMs)).toISOString();
        const { size, contentType, etag, metadata } = fields; // the sidecar's field order is docs/api.md §3's
        const side: Sidecar = { key, size, contentType, etag, lastModified, metadata };
        const sideTmp = join(this.tmpDir, `${randomUUID()}.json`);
        // The data (its new mtime) and the sidecar are flushed together: neither is under its
        // name yet, and both are on disk before the first rename (step 3) names one of them.
        const [data, sidecar] = await Promise.allSettled([fh.sync(), writeSmallFile(sideTmp, Buffer.from(JSON.stringify(side)), { flush: true, exclusive: true })]);
        if (data.status === 'rejected' || sidecar.status === 'rejected') {
          await unlink(sideTmp).catch(() => {});
          throw data.status === 'rejected' ? data.reason : (sidecar as PromiseRejectedResult).reason;
        }
        await this.publish(key, loc, tmp, sideTmp);
        // Step 5: the directory of the two new names, and the temp directory they left (else
        // a power cut may bring a name back there: it would then be removed as a stale temp file,
        // a second link to the object's inode — harmless, but flushed anyway, in the same phase).
        // (`alsoSync` failing fails nothing: the object is committed, its source merely may come back.)
        await Promise.all([fsyncDir(loc.dir), fsyncDir(this.tmpDir), alsoSync && fsyncDir(alsoSync).catch(() => {})]);
        return toInfo(key, side);
      } finally {
        await fh.close();
      }
    });
  }

  /** Steps 3 and 4: data first, then the sidecar that commits it. */
  private async publish(key: string, loc: Location, tmp: string, sideTmp: string): Promise<void> {
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await rename(tmp, loc.data);
          break;
        } catch (err) {
          // A concurrent delete may have pruned the (then empty) parent directory — again while
          // it is re-created, even (ensureParents' ENOENT): the next attempt re-creates it.
          if (errno(err) !== 'ENOENT' || attempt === 3) throw err;
          await ensureParents(this.root, loc.dir, key).catch((e: unknown) => {
            if (errno(e) !== 'ENOENT') throw e;
          });
        }
      }
      await rename(sideTmp, loc.sidecar);
    } catch (err) {
      await unlink(sideTmp).catch(() => {});
      throw err;
    }
  }
}
