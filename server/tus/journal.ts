import { mkdir, open, readdir, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncDir, writeSmallFile } from '../util/small-files.ts';
import { removeFile, SAFE_KEY, type RecordStore, type SetOptions } from './records.ts';

/*
 * The gateway's small documents — upload records and the file datastore's upload infos — as
 * lines of one append-only log (`{dir}/journal-{generation}.log`), with group commit, instead of
 * a file each. A document per file costs, per change, a new inode, a flush of it, a rename, a
 * flush of its directory and a freed inode (on ext4 without a journal, every new inode scans
 * past the ones freed in the last minutes): a 64 KiB upload made 5 files and freed 3, in four
 * flush phases. Here a change is a line appended; one fdatasync covers every line written
 * before it, whoever asked. No library does this for a handful of documents without a daemon
 * or a native database engine: the format is twenty lines.
 *
 * A line: `{crc32 of the rest, 8 hex} {namespace} {key}[ {JSON}]\n` — without JSON, a deletion.
 * Replay stops at the first line that is incomplete or fails its crc (a write torn by a crash:
 * never acknowledged, since its flush had not returned), and the file is cut there, so that
 * later lines never follow garbage. When the log holds much more than the live documents, they
 * are written to the next generation's file (flushed, renamed into place, the directory
 * flushed) and the old file is removed: at start-up the highest generation wins.
 *
 * Every live document is held in memory (its JSON text): records live `tus.expiration` after
 * their upload finished, infos until it does — a few hundred bytes each.
 */

interface Entry {
  /** The line, or none: a request to flush what was written. */
  line?: string;
  durable: boolean;
  /** Resolves with the log's length once the line is written (and flushed, if durable). */
  resolve(end: number): void;
  reject(err: unknown): void;
  /** Puts the document back as it was before this entry, when the entry could not be written. */
  undo?(): void;
}

const LOG = /^journal-(\d{1,15})\.log$/;
const NAMESPACE = /^[a-z]{1,32}$/;
const MIN_COMPACT = 1 << 20;

const generations = (names: string[]) => names.flatMap((n) => LOG.exec(n)?.[1] ?? []).map(Number);

const format = (rest: string) => `${crc32(rest).toString(16).padStart(8, '0')} ${rest}\n`;

/** The documents a log's bytes hold, and how many of its bytes are whole lines. */
export function replay(bytes: Buffer, docs = new Map<string, Map<string, string>>()): { docs: Map<string, Map<string, string>>; good: number } {
  let good = 0;
  for (let start = 0; start < bytes.length; ) {
    const end = bytes.indexOf(0x0a, start);
    if (end < 0) break;
    const line = bytes.toString('utf8', start, end);
    const rest = line.slice(9);
    if (line[8] !== ' ' || line.slice(0, 8) !== crc32(rest).toString(16).padStart(8, '0')) break;
    const [ns, key] = rest.split(' ', 2) as [string, string];
    const json = rest.slice(ns.length + key.length + 2);
    let map = docs.get(ns);
    if (!map) docs.set(ns, (map = new Map()));
    if (json) map.set(key, json);
    else map.delete(key);
    good = start = end + 1;
  }
  return { docs, good };
}

/** The documents of the log in `dir` as the gateway would read them at start-up (for tests and tools: reads only). */
export async function readJournal(dir: string): Promise<Map<string, Map<string, string>>> {
  const gens = generations(await readdir(dir).catch(() => []));
  if (!gens.length) return new Map();
  return replay(await readFile(join(dir, `journal-${Math.max(...gens)}.log`))).docs;
}

/** Where documents were kept one file each before the journal: imported once, then removed. */
export interface LegacyFiles {
  namespace: string;
  dir: string;
  suffix: string;
}

export class Journal {
  private queue: Entry[] = [];
  private running = false;
  private broken: unknown;
  /** Bytes in the log, and how many of them the last completed flush covered. */
  private length = 0;
  private flushed = 0;
  /** Roughly the bytes the live documents take as lines: compaction's yardstick. */
  private live = 0;
  /** How many fdatasyncs the log took (tests: concurrent writers share them). */
  flushes = 0;

  private constructor(
    readonly dir: string,
    private generation: number,
    private fh: FileHandle,
    private readonly docs: Map<string, Map<string, string>>,
  ) {
    for (const [ns, map] of docs) for (const [key, json] of map) this.live += ns.length + key.length + json.length + 12;
  }

  /** Opens (or creates) the log in `dir`: replays it, cuts a torn tail, imports `legacy` files. */
  static async open(dir: string, legacy: LegacyFiles[] = []): Promise<Journal> {
    await mkdir(dir, { recursive: true });
    const names = await readdir(dir);
    const gens = generations(names);
    const generation = gens.length ? Math.max(...gens) : 1;
    const path = join(dir, `journal-${generation}.log`);
    const fh = await open(path, 'a+');
    let journal: Journal;
    try {
      const bytes = await fh.readFile();
      const { docs, good } = replay(bytes);
      if (good < bytes.length) {
        await fh.truncate(good);
        await fh.datasync();
      }
      journal = new Journal(dir, generation, fh, docs);
      journal.length = journal.flushed = good;
    } catch (err) {
      await fh.close();
      throw err;
    }
    // Older generations (a compaction that died before removing them) and unfinished next ones.
    await Promise.all(names.filter((n) => n !== `journal-${generation}.log` && (LOG.test(n) || n.endsWith('.tmp'))).map((n) => removeFile(join(dir, n))));
    if (!gens.length) await fsyncDir(dir); // the new log's name, before anything in it is acknowledged
    for (const source of legacy) await journal.importFiles(source);
    return journal;
  }

  /** The documents of one namespace, as a RecordStore. */
  store<T>(namespace: string): RecordStore<T> {
    if (!NAMESPACE.test(namespace)) throw new Error(`bad journal namespace: ${namespace}`);
    if (!this.docs.has(namespace)) this.docs.set(namespace, new Map());
    return new JournalStore<T>(this, this.docs.get(namespace)!, namespace);
  }

  /**
   * Replaces (json) or deletes (undefined) a document in memory at once, and appends the change;
   * resolves with the log's length after it once it is written, and flushed if `durable`.
   */
  change(namespace: string, map: Map<string, string>, key: string, json: string | undefined, durable: boolean): Promise<number> {
    if (this.broken) return Promise.reject(this.broken);
    const before = map.get(key);
    if (json === undefined) map.delete(key);
    else map.set(key, json);
    const size = (j: string | undefined) => (j === undefined ? 0 : namespace.length + key.length + j.length + 12);
    this.live += size(json) - size(before);
    const undo = () => {
      if (map.get(key) !== json) return; // changed again since: that change stands
      if (before === undefined) map.delete(key);
      else map.set(key, before);
      this.live += size(before) - size(json);
    };
    return this.submit({ line: format(json === undefined ? `${namespace} ${key}` : `${namespace} ${key} ${json}`), durable, undo });
  }

  /** Resolves once the log is flushed up to `end` (a length change() resolved with): at once if it is. */
  flushedTo(end: number): Promise<void> {
    if (this.flushed >= end) return Promise.resolve();
    return this.submit({ durable: true }).then(() => undefined);
  }

  private submit(entry: Omit<Entry, 'resolve' | 'reject'>): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...entry, resolve, reject });
      if (!this.running) void this.rounds();
    });
  }

  /** Group commit: what is queued while a round writes and flushes goes into the next round, all of it at once. */
  private async rounds(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length) {
        const round = this.queue;
        this.queue = [];
        if (this.broken) {
          for (const e of round) e.reject(this.broken);
          continue;
        }
        const text = round.map((e) => e.line ?? '').join('');
        if (text) {
          try {
            await this.append(Buffer.from(text));
          } catch (err) {
            for (const e of [...round].reverse()) e.undo?.();
            // Cut what a partial write left: the next lines must not follow it.
            await this.fh.truncate(this.length).catch((e: unknown) => (this.broken = e));
            for (const e of round) e.reject(err);
            continue;
          }
        }
        for (const e of round) if (!e.durable) e.resolve(this.length);
        const waiting = round.filter((e) => e.durable);
        if (waiting.length) {
          const end = this.length;
          try {
            await this.fh.datasync();
          } catch (err) {
            // After a failed fdatasync the kernel may have dropped the dirty pages: nothing written can be trusted to be on disk.
            this.broken = err;
            for (const e of waiting) e.reject(err);
            continue;
          }
          this.flushes++;
          this.flushed = Math.max(this.flushed, end);
          for (const e of waiting) e.resolve(end);
        }
        if (!this.queue.length && this.length > MIN_COMPACT && this.length > 4 * this.live) await this.compact();
      }
    } finally {
      this.running = false;
    }
  }

  private async append(buf: Buffer): Promise<void> {
    for (let off = 0; off < buf.length; ) {
      const { bytesWritten } = await this.fh.write(buf, off, buf.length - off);
      off += bytesWritten;
      this.length += bytesWritten;
    }
  }

  /**
   * The live documents into the next generation's file. Runs between rounds with nothing queued,
   * so memory holds exactly what the log does. A failure leaves the old log in use.
   */
  private async compact(): Promise<void> {
    const lines: string[] = [];
    for (const [ns, map] of this.docs) for (const [key, json] of map) lines.push(format(`${ns} ${key} ${json}`));
    const next = this.generation + 1;
    const path = join(this.dir, `journal-${next}.log`);
    const tmp = `${path}.tmp`;
    try {
      await writeSmallFile(tmp, Buffer.from(lines.join('')), { flush: true });
      await rename(tmp, path);
      await fsyncDir(this.dir);
    } catch {
      await removeFile(tmp).catch(() => undefined);
      this.live = this.length; // not again before the log has grown as much once more
      return;
    }
    const fh = await open(path, 'a+').catch((err: unknown) => {
      this.broken = err; // the new generation is the truth now, and cannot be appended to
      return undefined;
    });
    if (!fh) return;
    const old = this.fh;
    const oldPath = join(this.dir, `journal-${this.generation}.log`);
    this.fh = fh;
    this.generation = next;
    this.length = this.flushed = (await fh.stat()).size;
    await old.close().catch(() => undefined);
    await removeFile(oldPath).catch(() => undefined);
  }

  /** Documents left one file each by an earlier version: into the log (flushed), then their files removed. */
  private async importFiles({ namespace, dir, suffix }: LegacyFiles): Promise<void> {
    const names = await readdir(dir).catch(() => [] as string[]);
    const keys = names.filter((n) => n.endsWith(suffix) && SAFE_KEY.test(n.slice(0, -suffix.length))).map((n) => n.slice(0, -suffix.length));
    if (!keys.length) return;
    const map = this.docs.get(namespace) ?? new Map<string, string>();
    this.docs.set(namespace, map);
    const written: Promise<number>[] = [];
    for (const key of keys) {
      const text = await readFile(join(dir, key + suffix), 'utf8').catch(() => undefined);
      if (text === undefined || map.has(key)) continue; // the log's own is newer
      let json: string;
      try {
        json = JSON.stringify(JSON.parse(text)); // one line
      } catch {
        continue; // a torn document of the old format: it was never acknowledged
      }
      written.push(this.change(namespace, map, key, json, true));
    }
    await Promise.all(written);
    // Removed for good (flushed): one that came back after a power cut would be imported over a newer state.
    await Promise.all(keys.map((key) => removeFile(join(dir, key + suffix))));
    await fsyncDir(dir);
  }

  /** Throws once a flush failed: from then on nothing is acknowledged (readiness reports it). */
  check(): void {
    if (this.broken) throw this.broken;
  }

  /** Waits for what is queued, then closes the log. */
  async close(): Promise<void> {
    await this.submit({ durable: false }).catch(() => undefined);
    await this.fh.close();
  }
}

/** One namespace of the journal as a RecordStore: reads from memory, writes through the log. */
class JournalStore<T> implements RecordStore<T> {
  /** Changes of a key held back by `after` (or queued behind one): later changes of that key wait for them. */
  private readonly held = new Map<string, Promise<unknown>>();

  constructor(
    private readonly journal: Journal,
    private readonly map: Map<string, string>,
    private readonly namespace: string,
  ) {}

  async get(key: string): Promise<T | undefined> {
    const json = this.map.get(key);
    return json === undefined ? undefined : (JSON.parse(json) as T); // parsed on every get: callers may change what they get
  }

  set(key: string, value: T, options: SetOptions = {}): Promise<void> {
    return this.change(key, JSON.stringify(value), options.durable !== false, options.after).then(() => undefined);
  }

  /** Visible at once, written without a flush; `durable` asks for the flush (one asked for by a later write serves it too). */
  async stage(key: string, value: T): Promise<{ durable: () => Promise<void> }> {
    const written = this.change(key, JSON.stringify(value), false);
    written.catch(() => undefined);
    return { durable: () => written.then((end) => this.journal.flushedTo(end)) };
  }

  delete(key: string): Promise<void> {
    return this.change(key, undefined, false).then(() => undefined);
  }

  async list(): Promise<string[]> {
    return [...this.map.keys()];
  }

  /** In the order asked for, per key: a change waits for the key's held-back ones, and for its own `after`. */
  private change(key: string, json: string | undefined, durable: boolean, after?: PromiseLike<unknown>): Promise<number> {
    if (!SAFE_KEY.test(key)) return Promise.reject(new Error(`unsafe record key: ${JSON.stringify(key)}`));
    const before = this.held.get(key);
    if (!before && !after) return this.journal.change(this.namespace, this.map, key, json, durable);
    const applied = Promise.all([before?.catch(() => undefined), after]);
    const done = applied.then(() => this.journal.change(this.namespace, this.map, key, json, durable));
    const mark = applied.catch(() => undefined);
    this.held.set(key, mark);
    void mark.then(() => this.held.get(key) === mark && this.held.delete(key));
    return done;
  }
}
