import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { groupFlusher, syncDirectory } from './group-flush.ts';

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
  set(key: string, value: T, options?: { durable?: boolean }): Promise<void>;
  delete(key: string): Promise<void>;
  list(): Promise<string[]>;
}

const SAFE_KEY = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$/;

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

  /** Writes of a key in the order they were asked for: the last set() is the document on disk and in the cache. */
  private readonly writes = new Map<string, Promise<void>>();

  set(key: string, value: T, options: { durable?: boolean } = {}): Promise<void> {
    const before = this.writes.get(key);
    const durable = this.durable && options.durable !== false;
    const done: Promise<void> = (before ? before.catch(() => undefined) : Promise.resolve())
      .then(() => this.write(key, value, durable))
      .finally(() => {
        if (this.writes.get(key) === done) this.writes.delete(key);
      });
    this.writes.set(key, done);
    return done;
  }

  private async write(key: string, value: T, durable: boolean): Promise<void> {
    this.ready ??= mkdir(this.directory, { recursive: true });
    await this.ready;
    const target = this.path(key);
    const tmp = join(this.directory, `.${key}.${randomBytes(6).toString('hex')}.tmp`);
    const text = JSON.stringify(value);
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(text);
      if (durable) await groupFlusher.flush(fh.fd);
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, target);
    } catch (err) {
      this.cache?.delete(key);
      await rm(tmp, { force: true });
      throw err;
    }
    this.remember(key, text);
    if (durable) await syncDirectory(this.directory);
  }

  /** Not flushed: a deleted record that comes back after a power cut is one the sweeper removes again. */
  async delete(key: string): Promise<void> {
    this.cache?.delete(key);
    await rm(this.path(key), { force: true });
  }

  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names.filter((n) => n.endsWith(this.suffix) && !n.startsWith('.')).map((n) => n.slice(0, -this.suffix.length));
  }
}
