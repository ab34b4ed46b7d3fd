import type { Readable } from 'node:stream';
import { groupFlusher } from './group-flush.ts';
import { writeChunks, type ResumableSha256 } from './sha256-state.ts';

const MiB = 2 ** 20;
/** A pool job costs ~50 µs of the event loop (futexes, a wake-up): hand over MiBs, not 64 KiB chunks. */
const BATCH = 1 * MiB;
/** What is received while a job runs, at most, before the body waits (the socket then applies backpressure). */
const MAX_AHEAD = 8 * MiB;
/** The bytes not yet on disk trail the written ones by at most this: the final flush is bounded by it. */
const WRITEBACK_LAG = 8 * MiB;

/**
 * Writes a PATCH body into the open data file `fd` from `offset`: batches of the socket's
 * own buffers (no copy), each one pool job that writes, hashes (when `hash` is given; it
 * must be at `offset`) and starts writeback; then the group flush. Resolves with the new
 * offset once every byte is on disk. On failure — the body's or the disk's — the bytes
 * received before it are still written and flushed (they count in the file's size,
 * which is the upload's offset), and the error is rethrown.
 */
export async function writeBody(fd: number, body: Readable, offset: number, hash: ResumableSha256 | undefined): Promise<number> {
  let submitted = offset; // end of the bytes handed to a job
  let stored = offset; // end of the bytes written
  let waited = offset; // writeback waited for up to here (the previous PATCH flushed the rest)
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let chain: Promise<void> = Promise.resolve();
  let busy = false;
  let diskError: unknown;

  const run = async (chunks: Buffer[], at: number, len: number) => {
    if (diskError) return;
    const waitTo = Math.max(waited, at + len - WRITEBACK_LAG);
    busy = true;
    try {
      stored += await (hash ? hash.writeAt(fd, at, chunks, waited, waitTo) : writeChunks(fd, at, chunks, waited, waitTo));
      waited = waitTo;
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
    const at = submitted;
    const len = pendingBytes;
    pending = [];
    pendingBytes = 0;
    submitted += len;
    return (chain = chain.then(() => run(chunks, at, len)));
  };

  let bodyError: unknown;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (diskError) break;
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= BATCH && !busy) void submit();
      else if (pendingBytes >= MAX_AHEAD) await submit();
    }
  } catch (err) {
    bodyError = err;
  }
  await submit();
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
