import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSmallFile } from '../util/small-files.ts';
import { syncDirectory } from './group-flush.ts';

/**
 * A small durable key → JSON document store. Used for the gateway's own upload
 * records, sha256 states, and as @tus/file-store's configstore (whose own
 * FileKvStore writes with a plain writeFile: a kill -9 mid-write leaves a torn
 * JSON and the upload is lost — docs/tus-server-notes.md #9).
 */
export interface RecordStore<T> {
  get(key: string): Promise<T | undefined>;
  /**
   * `durable: false`: replaced atomically but not flushed — for a document whose loss in a
   * power cut only means a step is done again (a kill -9 never loses it: the page cache stays).
   */
  set(key: string, value: T, options?: SetOptions): Promise<void>;
  /**
   * set(), resolved as soon as get() and list() see the value, with `durable()`, which settles
   * once the value is as durable as set() makes it: for a caller with other work to overlap with
   * the flushes, which awaits `durable()` before it answers anyone. (The journal flushes only when
   * asked: a flush that a later write asked for in the meantime serves it too.)
   */
  stage(key: string, value: T): Promise<{ durable: () => Promise<void> }>;
  delete(key: string): Promise<void>;
  list(): Promise<string[]>;
}

export interface SetOptions {
  durable?: boolean;
  /**
   * The document replaces the old one only once `after` has resolved (never if it rejects:
   * set() rejects with it); it is written and flushed meanwhile, under a temporary name, so
   * that only the rename and the directory's flush remain after `after`.
   */
  after?: PromiseLike<unknown>;
}

/** unlink, a missing file being fine: one pool job, where rm({ force }) takes three. */
export async function removeFile(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

export const SAFE_KEY = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$/;

/** Records kept in memory per store, at most (an upload's record is read ~10 times in its life). */
const CACHE_ENTRIES = 2000;

/**
 * One `{key}{suffix}` file per record in `directory`, replaced atomically:
 * write a temporary file, fsync it, rename it over the old one, fsync the directory
 * (the rename lives in the directory: without that, a new record can vanish on power
 * loss). A crash leaves either the old or the new document, never a torn one. The
 * flushes go through the group commit (group-flush.ts): records written together share
 * their flushes.
 *
 * `cache`: reads are served from memory, written through — for a directory this
 * process alone writes (the file datastore is one instance's: docs/operations.md).
 */
export class FileRecordStore<T> implements RecordStore<T> {
  private ready: Promise<unknown> | undefined;
  /** The JSON text of each record known (parsed on every get: callers may change what they get). */
  private readonly cache: Map<string, string> | undefined;

  constructor(
    readonly directory: string,
    private readonly suffix = '.json',
    private readonly durable = true,
    options: { cache?: boolean } = {},
  ) {
    this.cache = options.cache ? new Map() : undefined;
  }

  private remember(key: string, text: string): void {
    if (!this.cache) return;
    this.cache.delete(key);
    this.cache.set(key, text);
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
  }

  private path(key: string): string {
    if (!SAFE_KEY.test(key)) throw new Error(`unsafe record key: ${JSON.stringify(key)}`);
    return join(this.directory, key + this.suffix);
  }

  async get(key: string): Promise<T | undefined> {
    const path = this.path(key);
    let text = this.cache?.get(key);
    if (text === undefined) {
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
      const parsed = JSON.parse(text) as T;
      // Unless a set() (newer than what was read) got there meanwhile.
      if (this.cache && !this.cache.has(key)) this.remember(key, text);
      return parsed;
    }
    return JSON.parse(text) as T;
  }

  /** Writes (and deletes) of a key in the order they were asked for: the last set() is the document on disk and in the cache. */
  private readonly writes = new Map<string, Promise<void>>();

  /**
   * With a cache, get() and list() see the value at once (unless `after` holds it back): for
   * this process the record exists from here, although a power cut before set() resolves may
   * lose it — as it may every record nobody was told of yet.
   */
  set(key: string, value: T, options: SetOptions = {}): Promise<void> {
    try {
      this.path(key); // an unsafe key is refused before anything, the cache included
    } catch (err) {
      return Promise.reject(err);
    }
    const durable = this.durable && options.durable !== false;
    const text = JSON.stringify(value);
    if (!options.after) this.remember(key, text);
    const before = this.writes.get(key)?.catch(() => undefined);
    // The temporary file is written (and flushed) at once, whatever it waits for: only its rename is ordered.
    const staged = this.writeTemporary(key, text, durable);
    const done = this.publish(key, text, durable, staged, Promise.all([before, options.after]));
    this.queue(key, done);
    return done;
  }

  async stage(key: string, value: T): Promise<{ durable: () => Promise<void> }> {
    const durable = this.set(key, value);
    durable.catch(() => undefined); // (reported to whoever calls durable())
    if (!this.cache) await durable; // seen by others only once renamed into place
    return { durable: () => durable };
  }

  private queue(key: string, done: Promise<void>): void {
    this.writes.set(key, done);
    void done.then(
      () => this.writes.get(key) === done && this.writes.delete(key),
      () => this.writes.get(key) === done && this.writes.delete(key),
    );
  }

  /** Writes `text` to a new temporary file in the directory (flushed if `durable`); resolves with its path. */
  private async writeTemporary(key: string, text: string, durable: boolean): Promise<string> {
    this.ready ??= mkdir(this.directory, { recursive: true });
    await this.ready;
    const tmp = join(this.directory, `.${key}.${randomBytes(6).toString('hex')}.tmp`);
    await writeSmallFile(tmp, Buffer.from(text), { flush: durable }).catch(async (err: unknown) => {
      await removeFile(tmp);
      throw err;
    });
    return tmp;
  }

  /** Renames the staged file into place once `ready` resolves (the key's earlier writes, `after`), then flushes the directory. */
  private async publish(key: string, text: string, durable: boolean, staged: Promise<string>, ready: Promise<unknown>): Promise<void> {
    let tmp: string;
    try {
      [tmp] = await Promise.all([staged, ready]);
    } catch (err) {
      this.forget(key, text);
      await staged.then(removeFile).catch(() => undefined); // (a failed staging removed its file itself)
      throw err;
    }
    try {
      await rename(tmp, this.path(key));
    } catch (err) {
      this.forget(key, text);
      await removeFile(tmp);
      throw err;
    }
    // Again: a later set() of this key that `after` let pass remembered first, but renames after this.
    this.remember(key, text);
    if (durable) await syncDirectory(this.directory);
  }

  /** A failed write's value leaves the cache, unless a later set() has replaced it there. */
  private forget(key: string, text: string): void {
    if (this.cache?.get(key) === text) this.cache.delete(key);
  }

  /** Not flushed: a deleted record that comes back after a power cut is one the sweeper removes again. */
  delete(key: string): Promise<void> {
    this.cache?.delete(key);
    const before = this.writes.get(key)?.catch(() => undefined);
    // After the key's writes in flight: none of them may rename its document back.
    const done = (async () => {
      await before;
      this.cache?.delete(key);
      await removeFile(this.path(key));
    })();
    this.queue(key, done);
    return done;
  }

  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      names = [];
    }
    const keys = new Set(names.filter((n) => n.endsWith(this.suffix) && !n.startsWith('.')).map((n) => n.slice(0, -this.suffix.length)));
    // Set but not yet renamed into place: already visible through get() (see set()).
    for (const key of this.writes.keys()) if (this.cache?.has(key)) keys.add(key);
    return [...keys];
  }
}
