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
});
