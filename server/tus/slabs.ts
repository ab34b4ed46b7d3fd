/**
 * Reused 1 MiB buffers that a PATCH body is copied into before it is written and hashed.
 *
 * Why copy: the socket hands over a fresh 64 KiB Buffer per read. Held for the milliseconds
 * a batch waits for its write and hash jobs, those buffers outlive young collections and are
 * promoted, and promoted Buffers are freed only by a full mark-compact: V8 then runs one
 * every ~9 MB of them (util/gc.ts). Copied at once (a memcpy, ~0.1 CPU-s/GiB), the socket's
 * buffers die young, and the slabs, allocated once and reused, stay. With the addon they are
 * page-aligned, so that whole slabs can be written with O_DIRECT (batch-writer.ts).
 */
import { native } from './native-addon.ts';

export const SLAB = 2 ** 20;
/** Free slabs kept for the next batch; beyond this they are left to the GC. */
const KEEP = 48;
/** Free slabs are let go after this long without a writer (an idle gateway holds none). */
const IDLE_MS = 10_000;

const free: Buffer[] = [];
let users = 0;
let idle: NodeJS.Timeout | undefined;

/** Writers using slabs now (between useSlabs() and its release): batch-writer shares its read-ahead among them. */
export const slabUsers = (): number => users;

/** A writer starts using slabs; call the function returned when it is done. */
export function useSlabs(): () => void {
  users++;
  if (idle) clearTimeout(idle);
  idle = undefined;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--users > 0) return;
    idle = setTimeout(() => {
      if (users === 0) free.length = 0;
    }, IDLE_MS);
    idle.unref();
  };
}

/** O_DIRECT's alignment (memory, file offset, length): the page size, which every filesystem accepts. */
export const ALIGN = 4096;

/** Whether slabs start at an ALIGN-aligned address (the addon tells where that is; without it, they may not). */
export const ALIGNED_SLABS = typeof native?.alignSkip === 'function';

export function takeSlab(): Buffer {
  const slab = free.pop();
  if (slab) return slab;
  // allocUnsafeSlow: a buffer of its own, not a slice of Node's shared pool. Only the bytes
  // copied in ([0, used)) are ever handed on, so its old contents are never read.
  if (!ALIGNED_SLABS) return Buffer.allocUnsafeSlow(SLAB);
  const raw = Buffer.allocUnsafeSlow(SLAB + ALIGN);
  const skip = native!.alignSkip!(raw, ALIGN);
  return raw.subarray(skip, skip + SLAB);
}

export function giveSlab(slab: Buffer): void {
  if (free.length < KEEP) free.push(slab);
}
