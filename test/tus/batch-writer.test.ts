import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBody } from '../../server/tus/batch-writer.ts';
import { native } from '../../server/tus/native-addon.ts';
import { ResumableSha256 } from '../../server/tus/sha256-state.ts';
import { ALIGNED_SLABS } from '../../server/tus/slabs.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A body in socket-sized pieces of varying length (as a PATCH's arrive), from real bytes. */
function pieces(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0, n = 1; i < data.length; i += n, n = (n * 7919 + 13) % 70_000 + 1) out.push(data.subarray(i, i + n));
  return out;
}

describe('writeBody (the file datastore write path)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'batch-writer-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('runs on the addon (npm ci builds it)', () => {
    expect(typeof native?.writeAsync).toBe('function');
    expect(typeof native?.flushAsync).toBe('function');
  });

  it('writes a body of many small chunks at its offset and hashes exactly those bytes, continuing the hash', async () => {
    const head = randomBytes(100_000);
    const data = randomBytes(5 * 2 ** 20 + 4321);
    const path = join(dir, 'a');
    await writeFile(path, head);
    const hash = await ResumableSha256.create();
    hash.update(head);
    await hash.settled();
    const seen: number[] = [];
    hash.afterBatch = () => seen.push(hash.offset);
    const fh = await open(path, 'r+');
    const end = await writeBody(fh.fd, Readable.from(pieces(data)), head.length, hash).finally(() => fh.close());
    expect(end).toBe(head.length + data.length);
    const all = Buffer.concat([head, data]);
    expect((await readFile(path)).equals(all)).toBe(true);
    expect(hash.offset).toBe(all.length);
    expect(hash.digest()).toBe(sha(all));
    // Batches of at least 1 MiB (the last one may be less): 5 MiB is a handful of jobs, not ~80.
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.length).toBeLessThanOrEqual(6);
  });

  it('writes whole slabs through an O_DIRECT descriptor, from an unaligned offset too, byte-exact, and falls back to the page cache when there is none', async () => {
    expect(ALIGNED_SLABS).toBe(true);
    const head = randomBytes(5000); // an offset that is not a multiple of 4096: the first slab stops at the next one
    const data = randomBytes(7 * 2 ** 20 + 999);
    for (const withDirect of [true, false]) {
      const path = join(dir, `direct-${withDirect}`);
      await writeFile(path, head);
      const hash = await ResumableSha256.create();
      hash.update(head);
      await hash.settled();
      const fh = await open(path, 'r+');
      let direct: FileHandle | undefined;
      let asked = 0;
      const openDirect = async () => {
        asked++;
        if (!withDirect) return undefined; // (a filesystem without O_DIRECT: tmpfs)
        direct ??= await open(path, constants.O_RDWR | constants.O_DIRECT);
        return direct.fd;
      };
      const end = await writeBody(fh.fd, Readable.from(pieces(data)), head.length, hash, openDirect).finally(async () => {
        await fh.close();
        await direct?.close();
      });
      expect(end).toBe(head.length + data.length);
      // What went direct is not in the page cache (util-linux's fincore counts the resident bytes):
      // with O_DIRECT only the partial slabs at both ends are, without it the whole file.
      const resident = Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' }).trim());
      if (withDirect) expect(resident).toBeLessThan(3 * 2 ** 20);
      else expect(resident).toBeGreaterThan(7 * 2 ** 20);
      const all = Buffer.concat([head, data]);
      expect((await readFile(path)).equals(all)).toBe(true);
      expect(hash.digest()).toBe(sha(all));
      // Asked for once, and not again after a refusal.
      expect(asked).toBe(1);
      expect(direct !== undefined).toBe(withDirect);
    }
  });

  it('keeps, flushed and hashed, the bytes that arrived before the body failed, and rethrows the body error', async () => {
    const data = randomBytes(3 * 2 ** 20 + 17);
    const path = join(dir, 'b');
    await writeFile(path, '');
    const hash = await ResumableSha256.create();
    const ps = pieces(data);
    let i = 0;
    // Asked for more only once it holds nothing: every piece is taken before the connection dies.
    const body = new Readable({
      highWaterMark: 1,
      read() {
        if (i < ps.length) this.push(ps[i++]);
        else this.destroy(Object.assign(new Error('client went away'), { code: 'ECONNRESET' }));
      },
    });
    const fh = await open(path, 'r+');
    await expect(writeBody(fh.fd, body, 0, hash).finally(() => fh.close())).rejects.toThrow('client went away');
    const stored = await readFile(path);
    expect(stored.length).toBe(data.length);
    expect(stored.equals(data)).toBe(true);
    expect(hash.offset).toBe(stored.length);
    expect(hash.digest()).toBe(sha(stored));
  });

  it('writes without a hash when none is given, and concurrent uploads all land byte-exact (group flush)', async () => {
    const bodies = Array.from({ length: 8 }, (_, i) => randomBytes(2 ** 20 + i * 99_999));
    await Promise.all(
      bodies.map(async (data, i) => {
        const path = join(dir, `c${i}`);
        await writeFile(path, '');
        const hash = i % 2 ? await ResumableSha256.create() : undefined;
        const fh = await open(path, 'r+');
        expect(await writeBody(fh.fd, Readable.from(pieces(data)), 0, hash).finally(() => fh.close())).toBe(data.length);
        if (hash) expect(hash.digest()).toBe(sha(data));
      }),
    );
    for (const [i, data] of bodies.entries()) expect((await readFile(join(dir, `c${i}`))).equals(data)).toBe(true);
  });

  it('reports a disk error (here: a file opened read-only) instead of acknowledging bytes', async () => {
    const path = join(dir, 'd');
    await writeFile(path, '');
    const fh = await open(path, 'r');
    const hash = await ResumableSha256.create();
    const data = randomBytes(2 ** 20 + 5);
    await expect(writeBody(fh.fd, Readable.from(pieces(data)), 0, hash).finally(() => fh.close())).rejects.toMatchObject({ code: 'EBADF' });
    expect((await readFile(path)).length).toBe(0);
    // The hash runs beside the writes: it may have taken bytes the file refused — never bytes
    // that did not arrive, and always a prefix of the body (HashStates.settle rolls it back to the file).
    expect(hash.offset).toBeLessThanOrEqual(data.length);
    expect(hash.digest()).toBe(sha(data.subarray(0, hash.offset)));
  });
});
