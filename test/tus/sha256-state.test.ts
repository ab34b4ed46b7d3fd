import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ResumableSha256, sha256Engine } from '../../server/tus/sha256-state.ts';

describe('ResumableSha256', () => {
  it('uses the native OpenSSL engine when the addon is built (npm ci builds it)', () => {
    expect(sha256Engine).toBe('openssl');
  });

  it('gives the sha256 of node:crypto, continued from a saved state in a fresh hasher', async () => {
    const data = randomBytes(9 * 2 ** 20 + 12345);
    const first = await ResumableSha256.create();
    for (let i = 0; i < 5 * 2 ** 20; i += 65536) first.update(data.subarray(i, i + 65536));
    await first.settled();
    const saved = JSON.parse(JSON.stringify(first.save())); // as written to disk
    expect(saved.offset).toBe(5 * 2 ** 20);
    const second = (await ResumableSha256.restore(saved))!;
    second.update(data.subarray(5 * 2 ** 20));
    await second.settled();
    expect(second.offset).toBe(data.length);
    expect(second.digest()).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('keeps the order of chunks given while a batch runs, and checkpoints between batches', async () => {
    const data = randomBytes(3 * 2 ** 20);
    const h = await ResumableSha256.create();
    const seen: number[] = [];
    h.afterBatch = () => seen.push(h.offset);
    for (let i = 0; i < data.length; i += 1000) h.update(data.subarray(i, i + 1000));
    expect(h.backlog).toBeGreaterThan(0);
    await h.settled();
    expect(h.backlog).toBe(0);
    expect(seen.at(-1)).toBe(data.length);
    expect(h.digest()).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('refuses a state written by another engine (counted as lost, so the data is read again)', async () => {
    const other = { offset: 10, state: Buffer.alloc(40).toString('base64'), engine: sha256Engine === 'openssl' ? 'wasm' : 'openssl' } as const;
    expect(await ResumableSha256.restore(other)).toBeUndefined();
    const torn = { offset: 10, state: Buffer.alloc(7).toString('base64'), engine: sha256Engine };
    expect(await ResumableSha256.restore(torn)).toBeUndefined();
    // Right size, wrong content (a block index past the buffer): refused, never used.
    const good = (await ResumableSha256.create()).save();
    const bytes = Buffer.from(good.state, 'base64').fill(0xff);
    expect(await ResumableSha256.restore({ ...good, state: bytes.toString('base64') })).toBeUndefined();
  });

  it('digests the empty input', async () => {
    const h = await ResumableSha256.create();
    expect(h.digest()).toBe(createHash('sha256').digest('hex'));
  });
});
