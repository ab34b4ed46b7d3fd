import type { Readable } from 'node:stream';
import { churned } from '../util/gc.ts';
import { groupFlusher } from './group-flush.ts';
import { writeChunks, type ResumableSha256 } from './sha256-state.ts';
import { ALIGN, ALIGNED_SLABS, SLAB, giveSlab, slabUsers, takeSlab, useSlabs } from './slabs.ts';

const MiB = 2 ** 20;
/** A pool job costs ~50 µs of the event loop (futexes, a wake-up): hand over MiBs, not 64 KiB chunks. */
const BATCH = SLAB;
/**
 * What is received while a job runs, at most, before the body waits (the socket then applies
 * backpressure): a budget shared by the bodies being written, never less than MIN_AHEAD each.
 * A lone upload needs the room: the fdatasync every SYNC_EVERY holds the device, and on a
 * virtual disk (this machine's) the direct writes queue behind it — 30–60 ms per 64 MiB, when the
 * host writes back its own cache — while the socket brings ~25 MiB in that time. With 8 MiB the
 * body stopped reading ~0.6–0.9 s of a ~2.2 s 1 GiB PATCH (measured: time spent awaiting the job
 * in flight); with 32 MiB ~0.1–0.3 s, and the PATCH ran 500 against 439 MiB/s (medians of 6,
 * interleaved). Sixteen uploads at once keep 8 MiB each, as before: the soak's RSS does not grow.
 */
const AHEAD_BUDGET = 32 * MiB;
const MIN_AHEAD = 8 * MiB;
/** This body's share of the budget: the bodies being written are the slabs' users. */
const aheadLimit = () => Math.max(MIN_AHEAD, Math.floor(AHEAD_BUDGET / Math.max(1, slabUsers()) / SLAB) * SLAB);
/**
 * Writeback is waited for, in a pool job of its own beside the writes, once it trails the
 * written bytes by this; the body waits when it trails by twice this. So the final flush
 * has at most 2 × this to do, whatever the PATCH's size.
 */
const WRITEBACK_LAG = 8 * MiB;
/**
 * Bytes written, by all the bodies of this process together, between the fdatasyncs run while
 * they are received (see waitWriteback). Counted process-wide: an fdatasync commits the
 * filesystem's journal (one for every file, on ext4 and XFS) and flushes the device's cache,
 * so one body's flush does most of every other body's; counted per body, sixteen 64 MiB uploads
 * at once never reached it, and all of their flushing came after their last bytes.
 */
const SYNC_EVERY = 64 * MiB;
let unsynced = 0; // written by any body since the last of those fdatasyncs started

/**
 * Writes a PATCH body into the open data file `fd` from `offset`: the body is copied into
 * reused 1 MiB slabs (slabs.ts says why), each batch of slabs one pool job that writes and
 * starts writeback; then the group flush. The same slabs go to `hash` (when given; it must be
 * at `offset`), whose own pool jobs run beside the writes: on two cores, one job doing both
 * in turn was the PATCH's critical path (the event loop idle ~75% of a 1 GiB PATCH).
 * Resolves with the new offset once every byte is on disk and hashed. On failure — the body's or the disk's — the bytes
 * received before it are still written and flushed (they count in the file's size,
 * which is the upload's offset), and the error is rethrown; after a disk error the hash may
 * have seen bytes the file did not take (hash.offset > the file's size): the caller rolls
 * it back (HashStates.settle, from its checkpoints).
 */
export async function writeBody(
  fd: number,
  body: Readable,
  offset: number,
  hash: ResumableSha256 | undefined,
  openDirect?: () => Promise<number | undefined>,
): Promise<number> {
  // O_DIRECT for whole slabs at aligned offsets (see `direct` below); the rest through the page cache.
  let canDirect = ALIGNED_SLABS && openDirect !== undefined;
  let submitted = offset; // end of the bytes handed to a job
  let stored = offset; // end of the bytes written
  let waited = offset; // writeback waited for up to here (the previous PATCH flushed the rest)
  let pending: Buffer[] = [];
  let pendingDone: (() => void)[] = []; // one per pending slab: its write is over
  let pendingBytes = 0;
  let slab: Buffer | undefined; // being filled
  let used = 0;
  let cap = SLAB; // bytes this slab takes: less when it starts unaligned, so that the next one starts aligned
  const release = useSlabs();
  /** The slab being filled becomes a batch: to be written, and given to the hash. */
  const seal = () => {
    if (!slab || !used) return;
    const owner = slab;
    const view = used === SLAB ? owner : owner.subarray(0, used);
    let uses = hash ? 2 : 1; // back to the pool once written and hashed
    const done = () => {
      if (--uses === 0) giveSlab(owner);
    };
    pending.push(view);
    pendingDone.push(done);
    pendingBytes += used;
    hash?.update(view, done);
    slab = undefined;
    used = 0;
  };
  const takeNext = () => {
    const at = submitted + pendingBytes; // where the new slab's first byte goes in the file
    cap = canDirect ? SLAB - (at % ALIGN) : SLAB;
    return takeSlab();
  };
  let chain: Promise<void> = Promise.resolve();
  let busy = false;
  let diskError: unknown;
  let waiting: Promise<void> | undefined;

  /** Waits for the writeback of [waited, stored - lag), unless a wait runs already. */
  const waitWriteback = () => {
    const to = stored - WRITEBACK_LAG;
    if (waiting || to <= waited) return;
    // Every SYNC_EVERY, a whole fdatasync instead: it also commits the filesystem's metadata for
    // the blocks allocated so far (ext4 allocates at writeback), which the final flush would
    // otherwise commit for the whole PATCH at once (measured: ~0.47 s after a 1 GiB PATCH).
    const upTo = stored;
    const full = unsynced >= SYNC_EVERY;
    if (full) unsynced = 0;
    waiting = (full ? groupFlusher.flush(fd) : writeChunks(fd, to, [], waited, to)).then(
      () => {
        waited = full ? upTo : to;
      },
      () => undefined, // the final fdatasync reports what went wrong
    ).finally(() => {
      waiting = undefined;
    });
  };

  const run = async (chunks: Buffer[], dones: (() => void)[], at: number, len: number) => {
    try {
      await write(chunks, at, len);
    } finally {
      for (const done of dones) done();
    }
    // What arrived meanwhile goes to the disk now, not at the body loop's next turn: that loop
    // may be waiting for the hash (hash.settled()), and the device then sat idle (measured: 5–8 ms
    // at a time, 30–130 ms of a 1 GiB PATCH).
    if (pendingBytes >= BATCH && !diskError) void submit();
  };
  /**
   * Whole slabs at aligned offsets go to an O_DIRECT descriptor: from the (reused, aligned) slab
   * straight to the device. Through the page cache, the copy into freshly allocated pages and
   * their writeback cost ~1.2–1.4 CPU-s per GiB in the writing thread here (measured: pwrite of
   * 1 GiB in 1 MiB writes with the same flushes, 1.2–1.45 s of system time buffered, 0.06 s
   * direct, and less wall time); the flush before the answer is needed either way. Partial slabs
   * (a body's first bytes up to an aligned offset, its last ones) keep the page cache.
   */
  let direct: Promise<number | undefined> | undefined;
  const write = async (chunks: Buffer[], at: number, len: number) => {
    if (diskError) return;
    const whole = (c: Buffer, p: number) => canDirect && c.length === SLAB && p % ALIGN === 0;
    // Too far ahead of the disk: the body waits (the final flush stays bounded). Not for bytes
    // written directly: they leave nothing in the page cache to write back.
    const allDirect = at % ALIGN === 0 && chunks.every((c) => whole(c, at));
    while (!allDirect && waiting && at + len - waited > 2 * WRITEBACK_LAG) await waiting;
    busy = true;
    try {
      let pos = at;
      for (let i = 0; i < chunks.length; ) {
        const useDirect = whole(chunks[i]!, pos);
        let j = i;
        for (let p = pos; j < chunks.length && whole(chunks[j]!, p) === useDirect; j++) p += chunks[j]!.length;
        const group = chunks.slice(i, j);
        const dfd = useDirect ? await (direct ??= openDirect!()) : undefined;
        if (useDirect && dfd === undefined) canDirect = false; // the filesystem refused O_DIRECT: the page cache then
        try {
          // Writeback started only (waitFrom == waitTo): the waiting is waitWriteback's.
          pos += await writeChunks(dfd ?? fd, pos, group, pos, pos);
        } catch (err) {
          if (dfd === undefined || (err as NodeJS.ErrnoException).code !== 'EINVAL' || (err as { written?: number }).written) throw err;
          canDirect = false; // refused (alignment rules of its own): the same bytes through the page cache
          pos += await writeChunks(fd, pos, group, pos, pos);
        }
        unsynced += pos - stored;
        stored = pos;
        i = j;
      }
      waitWriteback();
    } catch (err) {
      stored += (err as { written?: number }).written ?? 0;
      diskError = err;
    } finally {
      busy = false;
    }
  };
  const submit = () => {
    if (!pendingBytes) return chain;
    const chunks = pending;
    const dones = pendingDone;
    const at = submitted;
    const len = pendingBytes;
    pending = [];
    pendingDone = [];
    pendingBytes = 0;
    submitted += len;
    return (chain = chain.then(() => run(chunks, dones, at, len)));
  };

  let bodyError: unknown;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (diskError) break;
      for (let from = 0; from < chunk.length; ) {
        slab ??= takeNext();
        const n = chunk.copy(slab, used, from, from + Math.min(chunk.length - from, cap - used));
        used += n;
        from += n;
        if (used === cap) seal();
      }
      churned(chunk.length); // the chunk is garbage now
      if (hash?.behind) await hash.settled();
      if (pendingBytes >= BATCH && !busy) void submit();
      else if (pendingBytes >= aheadLimit()) {
        // Wait for the job in flight only, then hand these over and read on while they are
        // written: awaiting the new job too left the socket unread for two jobs' time
        // (measured: a third of a 1 GiB PATCH's duration).
        await chain;
        void submit();
      }
    }
  } catch (err) {
    bodyError = err;
  }
  seal();
  await submit();
  await waiting;
  // A hash failure is the caller's to see (settled() again): the bytes are stored either way.
  await hash?.settled().catch(() => undefined);
  release();
  if (stored > offset || diskError) {
    // "Upload-Offset" acknowledges bytes: they are on disk before it is answered, and
    // before any later HEAD can count them (it reads the file's size).
    await groupFlusher.flush(fd).catch((err: unknown) => {
      diskError ??= err;
    });
  }
  // The body's own error first: @tus/server answers it (aborted, too large) as it would without the gateway.
  if (bodyError ?? diskError) throw bodyError ?? diskError;
  return stored;
}
