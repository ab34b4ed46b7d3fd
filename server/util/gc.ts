import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { native } from '../tus/native-addon.ts';

type Gc = (options: { type: 'major' | 'minor'; execution: 'sync'; flavor?: 'regular' | 'last-resort' }) => void;

/**
 * V8 has no API to ask for a collection but the `gc` extension. `--expose-gc` set now applies
 * to contexts created later, so only this throw-away context gets `gc`; the gateway's own
 * global scope does not (nothing can call it per request).
 */
let gcFn: Gc | undefined;
function gc(): Gc {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as Gc;
  }
  return gcFn;
}

/**
 * One full, compacting garbage collection, run once when the gateway listens.
 *
 * Why: start-up (compiling ~600 modules, validating the configuration) grows V8's young
 * generation to its maximum and leaves garbage in the old one. An idle server allocates
 * nothing, so V8 never collects again: without this the process keeps ~15 MiB it does not
 * use (measured: idle RSS 100 → 85 MiB) until requests arrive. The "last-resort" flavour
 * is the one that also shrinks the young generation and hands the freed pages back. ~50 ms, once.
 *
 * Then malloc_trim (native/sha256/trim.c): what the collection freed outside V8's heap —
 * the compilers' and parsers' memory — goes back too, not only the top of malloc's heap (~1 MiB).
 */
export function collectStartupGarbage(): void {
  gc()({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  native?.trimMemory?.();
}

/** Bytes of short-lived buffers between two young collections, at most. */
const CHURN_PER_SCAVENGE = 4 * 2 ** 20;
let churn = 0;

/**
 * Counts `bytes` of buffers that die young — a request body's socket buffers, a download's
 * read buffers — and runs a young-generation collection (a scavenge, ~0.2 ms here) every
 * CHURN_PER_SCAVENGE of them.
 *
 * Why: V8 counts the memory behind Buffers as external memory, and starts a full mark-compact
 * when it grows by more than the old generation's slack (~9 MB for the gateway's 17 MB heap)
 * since its lowest point. Each 64 KiB socket buffer is garbage as soon as it is written, but
 * only a scavenge frees it, and a scavenge comes when ~1 MiB of JavaScript objects has been
 * allocated — after ~17 MB of body here, since the gateway allocates little per chunk. So a
 * 1 GiB PATCH ran ~40 mark-compacts (≈1.3 CPU-s of marking threads, more than its sha256)
 * where bare @tus/server, allocating more per chunk, ran 2. Scavenging by bytes: none.
 */
export function churned(bytes: number): void {
  churn += bytes;
  if (churn < CHURN_PER_SCAVENGE) return;
  churn = 0;
  gc()({ type: 'minor', execution: 'sync' });
}
