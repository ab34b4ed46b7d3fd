import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal, readJournal } from '../../server/tus/journal.ts';

describe('Journal (records and upload infos in one append-only log)', () => {
  let root: string;
  let n = 0;
  const fresh = () => join(root, `j${n++}`);
  const logOf = async (dir: string) => join(dir, (await readdir(dir)).find((f) => f.endsWith('.log'))!);
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'journal-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('keeps sets and deletes per namespace; a reopened log (a restarted process) reads the same', async () => {
    const dir = fresh();
    const j = await Journal.open(dir);
    const a = j.store<{ n: number }>('records');
    const b = j.store<{ n: number }>('infos');
    await a.set('k1', { n: 1 });
    await a.set('k1', { n: 2 });
    await a.set('k2', { n: 3 });
    await b.set('k1', { n: 4 });
    await a.delete('k2');
    expect(await a.get('k1')).toEqual({ n: 2 });
    expect(await a.get('k2')).toBeUndefined();
    expect(await a.list()).toEqual(['k1']);
    expect(await b.list()).toEqual(['k1']);
    // What a process reading the log now (no close: as after a kill -9) finds.
    const seen = await readJournal(dir);
    expect(seen.get('records')).toEqual(new Map([['k1', '{"n":2}']]));
    expect(seen.get('infos')).toEqual(new Map([['k1', '{"n":4}']]));
    await j.close();
    const again = await Journal.open(dir);
    expect(await again.store('records').get('k1')).toEqual({ n: 2 });
    expect(await again.store('infos').get('k1')).toEqual({ n: 4 });
    expect(await again.store('records').get('k2')).toBeUndefined();
    await again.close();
  });

  it('hands out copies, and refuses a key that is not a plain name', async () => {
    const j = await Journal.open(fresh());
    const s = j.store<{ n: number }>('records');
    await s.set('k', { n: 1 });
    (await s.get('k'))!.n = 99;
    expect(await s.get('k')).toEqual({ n: 1 });
    await expect(s.set('a b', { n: 1 })).rejects.toThrow(/unsafe record key/);
    await expect(s.set('../x', { n: 1 })).rejects.toThrow(/unsafe record key/);
    expect(() => j.store('Bad Name')).toThrow(/namespace/);
    await j.close();
  });

  it('cuts a torn or corrupt tail at start-up, keeps every line before it, and appends after the cut', async () => {
    const dir = fresh();
    const j = await Journal.open(dir);
    const s = j.store<{ n: number }>('records');
    await s.set('a', { n: 1 });
    await s.set('b', { n: 2 });
    await j.close();
    const log = await logOf(dir);
    const whole = (await stat(log)).size;
    // A line whose write a kill -9 cut short.
    await appendFile(log, '0badc0de records c {"n":');
    let k = await Journal.open(dir);
    expect((await stat(log)).size).toBe(whole);
    expect(await k.store('records').list()).toEqual(['a', 'b']);
    await k.store('records').set('c', { n: 3 });
    await k.close();
    k = await Journal.open(dir);
    expect(await k.store('records').get('c')).toEqual({ n: 3 });
    await k.close();
    // A whole line with a wrong checksum (a sector half written): it and everything after it are dropped.
    const bytes = await readFile(log);
    const lastLine = bytes.lastIndexOf('records c');
    bytes[lastLine + 12] = bytes[lastLine + 12]! ^ 0x01;
    await writeFile(log, bytes);
    k = await Journal.open(dir);
    expect(await k.store('records').list()).toEqual(['a', 'b']);
    expect(await k.store('records').get('b')).toEqual({ n: 2 });
    await k.close();
  });

  it('group commit: concurrent durable writes share their flushes', async () => {
    const j = await Journal.open(fresh());
    const s = j.store<{ n: number }>('records');
    const before = j.flushes;
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.set(`k${i}`, { n: i })));
    // The first write's round, then one round for the 49 queued behind it.
    expect(j.flushes - before).toBeLessThanOrEqual(2);
    expect(j.flushes - before).toBeGreaterThanOrEqual(1);
    expect((await s.list()).length).toBe(50);
    await j.close();
  });

  it('stage(): visible at once; durable() flushes, unless a later write already flushed it', async () => {
    const j = await Journal.open(fresh());
    const records = j.store<{ n: number }>('records');
    const infos = j.store<{ n: number }>('infos');
    const staged = await records.stage('r', { n: 1 });
    expect(await records.get('r')).toEqual({ n: 1 });
    const f0 = j.flushes;
    await infos.set('r', { n: 2 }); // a durable write after it: its flush covers the staged record
    const f1 = j.flushes;
    expect(f1).toBe(f0 + 1);
    await staged.durable();
    expect(j.flushes).toBe(f1); // nothing more to flush
    const alone = await records.stage('s', { n: 3 });
    await alone.durable();
    expect(j.flushes).toBe(f1 + 1); // asked for, done
    expect((await readJournal(j.dir)).get('records')?.get('s')).toBe('{"n":3}');
    await j.close();
  });

  it('set({ after }): the old document stands until `after` resolves, later writes of the key wait for it, a rejected `after` changes nothing', async () => {
    const dir = fresh();
    const j = await Journal.open(dir);
    const s = j.store<{ n: number }>('records');
    await s.set('k', { n: 1 });
    let go!: () => void;
    const held = s.set('k', { n: 2 }, { after: new Promise<void>((r) => (go = r)) });
    const later = s.set('k', { n: 3 });
    await new Promise((r) => setTimeout(r, 30));
    expect(await s.get('k')).toEqual({ n: 1 });
    expect((await readJournal(dir)).get('records')?.get('k')).toBe('{"n":1}');
    go();
    await Promise.all([held, later]);
    expect(await s.get('k')).toEqual({ n: 3 });
    const refused = s.set('k', { n: 4 }, { after: Promise.reject(new Error('placement failed')) });
    await expect(refused).rejects.toThrow('placement failed');
    expect(await s.get('k')).toEqual({ n: 3 });
    await j.close();
    const again = await Journal.open(dir);
    expect(await again.store('records').get('k')).toEqual({ n: 3 });
    await again.close();
  });

  it('compacts: many changes of a few documents keep the log small, in a new generation, the same documents after a reopen', async () => {
    const dir = fresh();
    const j = await Journal.open(dir);
    const s = j.store<{ n: number; pad: string }>('records');
    const pad = 'x'.repeat(1000);
    for (let round = 0; round < 30; round++) await Promise.all(Array.from({ length: 60 }, (_, i) => s.set(`k${i}`, { n: round, pad })));
    await s.delete('k0');
    await j.close();
    const files = await readdir(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).not.toBe('journal-1.log');
    expect((await stat(join(dir, files[0]!))).size).toBeLessThan(1.5 * 2 ** 20); // 1.8 MB written in all
    const again = await Journal.open(dir);
    const t = again.store<{ n: number; pad: string }>('records');
    expect((await t.list()).sort()).toEqual(Array.from({ length: 59 }, (_, i) => `k${i + 1}`).sort());
    expect(await t.get('k7')).toEqual({ n: 29, pad });
    await again.close();
  });

  it('at start-up the highest generation wins: an older one (a compaction that died before removing it) and a half-written next one are removed', async () => {
    const dir = fresh();
    const j = await Journal.open(dir);
    await j.store('records').set('k', { n: 'new' });
    await j.close();
    await writeFile(join(dir, 'journal-0.log'), 'stale');
    await writeFile(join(dir, 'journal-2.log.tmp'), 'half');
    const again = await Journal.open(dir);
    expect(await again.store('records').get('k')).toEqual({ n: 'new' });
    expect(await readdir(dir)).toEqual(['journal-1.log']);
    await again.close();
  });

  it('imports the documents an earlier version kept one file each, then removes those files', async () => {
    const dir = fresh();
    const old = join(dir, 'old-records');
    await mkdir(old, { recursive: true });
    await writeFile(join(old, 'u1.json'), JSON.stringify({ status: 'done', n: 1 }, null, 2));
    await writeFile(join(old, 'u2.json'), JSON.stringify({ status: 'uploading' }));
    await writeFile(join(old, 'torn.json'), '{"status":');
    await writeFile(join(old, 'notes.txt'), 'kept');
    const j = await Journal.open(join(dir, 'journal'), [{ namespace: 'records', dir: old, suffix: '.json' }]);
    const s = j.store<{ status: string }>('records');
    expect((await s.list()).sort()).toEqual(['u1', 'u2']);
    expect(await s.get('u1')).toEqual({ status: 'done', n: 1 });
    expect(await readdir(old)).toEqual(['notes.txt']);
    await j.close();
    expect((await readJournal(join(dir, 'journal'))).get('records')?.get('u2')).toBe('{"status":"uploading"}');
  });
});
