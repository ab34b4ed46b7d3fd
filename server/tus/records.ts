import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A small durable key → JSON document store. Used for the gateway's own upload
 * records, sha256 states, and as @tus/file-store's configstore (whose own
 * FileKvStore writes with a plain writeFile: a kill -9 mid-write leaves a torn
 * JSON and the upload is lost — docs/tus-server-notes.md #9).
 */
export interface RecordStore<T> {
  get(key: string): Promise<T | undefined>;
  set(key: string, value: T): Promise<void>;
  delete(key: string): Promise<void>;
  list(): Promise<string[]>;
}

const SAFE_KEY = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$/;

/**
 * One `{key}{suffix}` file per record in `directory`, replaced atomically:
 * write a temporary file, fsync it, rename it over the old one. A crash leaves
 * either the old or the new document, never a torn one.
 */
export class FileRecordStore<T> implements RecordStore<T> {
  private ready: Promise<unknown> | undefined;

  constructor(
    readonly directory: string,
    private readonly suffix = '.json',
    private readonly durable = true,
  ) {}

  private path(key: string): string {
    if (!SAFE_KEY.test(key)) throw new Error(`unsafe record key: ${JSON.stringify(key)}`);
    return join(this.directory, key + this.suffix);
  }

  async get(key: string): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(this.path(key), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return JSON.parse(text) as T;
  }

  async set(key: string, value: T): Promise<void> {
    this.ready ??= mkdir(this.directory, { recursive: true });
    await this.ready;
    const target = this.path(key);
    const tmp = join(this.directory, `.${key}.${randomBytes(6).toString('hex')}.tmp`);
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(JSON.stringify(value));
      if (this.durable) await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
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
