/**
 * The addon's one-job file operations (native/sha256/file_ops.c), which the records, the tus
 * info and the localfs sidecars are written with: what they write, and the errors they answer
 * as node:fs would (a code the callers test, the path).
 */
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../../server/tus/native-addon.ts';

describe('native file operations', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-ops-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('are built (npm ci builds the addon)', () => {
    expect(typeof native?.writeFileAsync).toBe('function');
    expect(typeof native?.syncDirAsync).toBe('function');
  });

  it('writes a file, flushed or not, and replaces what was there', async () => {
    const path = join(dir, 'a.json');
    await native!.writeFileAsync!(path, Buffer.from('{"v":1}'), true, false);
    expect(await readFile(path, 'utf8')).toBe('{"v":1}');
    await native!.writeFileAsync!(path, Buffer.from('{}'), false, false);
    expect(await readFile(path, 'utf8')).toBe('{}');
    await native!.writeFileAsync!(path, Buffer.alloc(0), false, false);
    expect((await readFile(path)).length).toBe(0);
  });

  it('exclusive: creates only, never over a file nor through a symlink', async () => {
    const path = join(dir, 'b.json');
    await native!.writeFileAsync!(path, Buffer.from('first'), true, true);
    await expect(native!.writeFileAsync!(path, Buffer.from('second'), true, true)).rejects.toMatchObject({ code: 'EEXIST', path });
    expect(await readFile(path, 'utf8')).toBe('first');
    const target = join(dir, 'target');
    await writeFile(target, 'untouched');
    const link = join(dir, 'link.json');
    await symlink(target, link);
    await expect(native!.writeFileAsync!(link, Buffer.from('x'), true, true)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(target, 'utf8')).toBe('untouched');
  });

  it('rejects with the errno code and the path', async () => {
    const missing = join(dir, 'no-such-dir', 'c.json');
    await expect(native!.writeFileAsync!(missing, Buffer.from('x'), true, false)).rejects.toMatchObject({ code: 'ENOENT', path: missing });
    await expect(native!.syncDirAsync!(join(dir, 'no-such-dir'))).rejects.toMatchObject({ code: 'ENOENT' });
    await writeFile(join(dir, 'plain'), 'x');
    await expect(native!.syncDirAsync!(join(dir, 'plain'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(() => native!.writeFileAsync!('a\0b', Buffer.from('x'), false, false)).toThrow(/NUL/);
  });

  it('flushes a directory', async () => {
    await expect(native!.syncDirAsync!(dir)).resolves.toBeUndefined();
  });
});
