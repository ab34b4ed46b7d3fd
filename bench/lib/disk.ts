/**
 * The disk alone, written the way the gateway's file datastore writes a PATCH body
 * (server/tus/batch-writer.ts): 1 MiB page-aligned slabs through an O_DIRECT descriptor,
 * an fdatasync every 64 MiB beside the writes, one more at the end. No socket, no hash: the
 * rate at which this disk makes bytes durable, which bounds the gateway's one-PATCH row
 * wherever the disk is slower than the CPU (the bare baseline never flushes, so it is not
 * bound by it). Printed beside that row, measured in the same rep.
 *
 * Without the addon (native/sha256 not built) the gateway writes through the page cache:
 * so does this, with node:fs.
 */
import { closeSync, constants, fdatasync, openSync, write } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { native } from '../../server/tus/native-addon.ts';
import { ALIGNED_SLABS, SLAB, giveSlab, takeSlab } from '../../server/tus/slabs.ts';
import { BLOCK, MiB } from './http.ts';

/**
 * batch-writer.ts's SYNC_EVERY, restated: the bench runs on node's type stripping, which
 * batch-writer.ts's imports (group-flush.ts's parameter properties) do not pass.
 */
const SYNC_EVERY = 64 * MiB;
const writeAt = promisify(write);
const datasync = promisify(fdatasync);

/** Writes `size` bytes (in whole slabs, at least one) to a new file in `dir`; resolves with MiB/s, the final flush included. */
export async function durableWriteRate(dir: string, size: number): Promise<number> {
  const bytes = Math.max(1, Math.floor(size / SLAB)) * SLAB;
  const path = join(dir, 'disk-probe.bin');
  const fd = openSync(path, 'w', 0o644);
  const direct = ALIGNED_SLABS && native ? openDirect(path) : undefined;
  const slab = takeSlab();
  BLOCK.copy(slab, 0, 0, SLAB); // random bytes: nothing below the filesystem can shortcut zeros
  try {
    const started = performance.now();
    let flushing: Promise<unknown> | undefined;
    let unsynced = 0;
    for (let at = 0; at < bytes; at += SLAB) {
      if (direct !== undefined) await native!.writeAsync(null, direct, at, [slab], at, at);
      else await writeAt(fd, slab, 0, SLAB, at);
      unsynced += SLAB;
      // One at a time, beside the writes, as the gateway's periodic flush (none starts while one runs).
      if (unsynced >= SYNC_EVERY && !flushing) {
        unsynced = 0;
        flushing = datasync(fd).finally(() => (flushing = undefined));
      }
    }
    await flushing;
    await datasync(fd);
    return bytes / MiB / ((performance.now() - started) / 1000);
  } finally {
    giveSlab(slab);
    if (direct !== undefined) closeSync(direct);
    closeSync(fd);
    await rm(path, { force: true });
  }
}

function openDirect(path: string): number | undefined {
  try {
    return openSync(path, constants.O_WRONLY | constants.O_DIRECT);
  } catch {
    return undefined; // a filesystem without O_DIRECT (tmpfs): the page cache, as the gateway then
  }
}
