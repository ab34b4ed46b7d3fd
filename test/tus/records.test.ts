import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileRecordStore } from '../../server/tus/records.ts';

describe('FileRecordStore', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'records-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes through its cache: what a fresh store (a restarted process) reads is what was set', async () => {
    const a = new FileRecordStore<{ n: number }>(join(dir, 'a'), '.json', true, { cache: true });
    await a.set('k1', { n: 1 });
    await a.set('k1', { n: 2 });
    expect(await a.get('k1')).toEqual({ n: 2 });
    const fresh = new FileRecordStore<{ n: number }>(join(dir, 'a'));
    expect(await fresh.get('k1')).toEqual({ n: 2 });
    expect(JSON.parse(await readFile(join(dir, 'a', 'k1.json'), 'utf8'))).toEqual({ n: 2 });
    await a.delete('k1');
    expect(await a.get('k1')).toBeUndefined();
    expect(await fresh.get('k1')).toBeUndefined();
  });

  it('hands out copies: a caller changing what it got changes nothing stored', async () => {
    const s = new FileRecordStore<{ n: number }>(join(dir, 'b'), '.json', true, { cache: true });
    await s.set('k', { n: 1 });
    const got = (await s.get('k'))!;
    got.n = 99;
    expect(await s.get('k')).toEqual({ n: 1 });
  });

  it('keeps the last of concurrent sets of one key, on disk and in the cache, and leaves no temporary file', async () => {
    const s = new FileRecordStore<{ n: number }>(join(dir, 'c'), '.json', true, { cache: true });
    await Promise.all(Array.from({ length: 20 }, (_, n) => s.set('k', { n })));
    expect(await s.get('k')).toEqual({ n: 19 });
    expect(await new FileRecordStore<{ n: number }>(join(dir, 'c')).get('k')).toEqual({ n: 19 });
    expect(await readdir(join(dir, 'c'))).toEqual(['k.json']);
  });

  it('without a cache, reads what another writer left (the files are the truth)', async () => {
    const s = new FileRecordStore<{ n: number }>(join(dir, 'd'));
    await s.set('k', { n: 1 });
    await writeFile(join(dir, 'd', 'k.json'), JSON.stringify({ n: 5 }));
    expect(await s.get('k')).toEqual({ n: 5 });
    expect(await s.list()).toEqual(['k']);
  });
  it('set({ after }): the old document stays under its name (for a restarted process too) until `after` resolves; a rejected `after` leaves it and no temporary file', async () => {
    const dir_ = join(dir, 'e');
    const s = new FileRecordStore<{ n: number }>(dir_, '.json', true, { cache: true });
    await s.set('k', { n: 1 });
    let go!: () => void;
    const after = new Promise<void>((r) => (go = r));
    const pending = s.set('k', { n: 2 }, { after });
    await new Promise((r) => setTimeout(r, 50)); // its temporary file is written and flushed meanwhile
    // A kill -9 here: what a fresh process reads is the old document, whole.
    expect(await new FileRecordStore<{ n: number }>(dir_).get('k')).toEqual({ n: 1 });
    expect(await s.get('k')).toEqual({ n: 1 });
    go();
    await pending;
    expect(await new FileRecordStore<{ n: number }>(dir_).get('k')).toEqual({ n: 2 });
    const refused = s.set('k', { n: 3 }, { after: Promise.reject(new Error('placement failed')) });
    await expect(refused).rejects.toThrow('placement failed');
    expect(await s.get('k')).toEqual({ n: 2 });
    expect(await new FileRecordStore<{ n: number }>(dir_).get('k')).toEqual({ n: 2 });
    expect(await readdir(dir_)).toEqual(['k.json']);
  });

  it('stage(): get() and list() see the record at once; a delete right after it wins over the write in flight', async () => {
    const dir_ = join(dir, 'f');
    const s = new FileRecordStore<{ n: number }>(dir_, '.json', true, { cache: true });
    const { durable } = await s.stage('k', { n: 1 });
    expect(await s.get('k')).toEqual({ n: 1 });
    expect(await s.list()).toEqual(['k']);
    await durable();
    expect(await new FileRecordStore<{ n: number }>(dir_).get('k')).toEqual({ n: 1 });
    const again = await s.stage('j', { n: 2 });
    const deleted = s.delete('j');
    await Promise.all([again.durable(), deleted]);
    expect(await s.get('j')).toBeUndefined();
    expect(await new FileRecordStore<{ n: number }>(dir_).get('j')).toBeUndefined();
    expect((await readdir(dir_)).sort()).toEqual(['k.json']);
  });
});
