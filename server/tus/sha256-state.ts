import { writev } from 'node:fs';
import type { IHasher } from 'hash-wasm';
import { native, type NativeAddon } from './native-addon.ts';

/**
 * A sha256 whose state can be written down and picked up again in another
 * process, so that a resumed upload — even after a restart — continues its hash
 * and finalization never reads a 10 GB model again.
 *
 * Why by hand: node:crypto's Hash cannot export its state. Two engines:
 * - `openssl`: native/sha256, a 60-line addon over the SHA256_* functions of the
 *   OpenSSL inside Node (the speed of node:crypto, ~1.6 GB/s here); built by
 *   `npm run build:native` on install;
 * - `wasm`: hash-wasm's save()/load(), ~300 MB/s, when the addon is not built.
 * A state is only continued by the engine that wrote it; another engine's state
 * counts as lost (the data is then read again, once).
 */
export interface HashState {
  /** Bytes hashed so far. */
  offset: number;
  /** The engine's state, base64. */
  state: string;
  engine: 'openssl' | 'wasm';
}

export const sha256Engine: HashState['engine'] = native ? 'openssl' : 'wasm';

interface Engine {
  /** Hashes the chunks in order; resolves when done. The engine's state must not be read meanwhile. */
  update(chunks: Uint8Array[]): Promise<void> | void;
  save(): string;
  digest(): string;
}

function opensslEngine(n: NativeAddon, saved?: string): Engine {
  const state = Buffer.alloc(n.stateSize);
  if (saved) {
    const bytes = Buffer.from(saved, 'base64');
    if (bytes.length !== n.stateSize) throw new Error('sha256 state of another OpenSSL layout');
    bytes.copy(state);
    n.final(state); // throws RangeError on a damaged state, before anything hashes with it
  } else {
    n.init(state);
  }
  return {
    update: (chunks) => n.updateAsync(state, chunks),
    save: () => state.toString('base64'),
    digest: () => n.final(state).toString('hex'),
  };
}

async function wasmEngine(saved?: string): Promise<Engine> {
  // Imported here, not at the top: with the addon built (the usual case) hash-wasm is never
  // used, and loading it costs ~0.5 MiB of heap (its 277 KiB source, kept twice) in every process.
  const { createSHA256 } = await import('hash-wasm');
  const h: IHasher = await createSHA256();
  h.init();
  if (saved) h.load(Buffer.from(saved, 'base64'));
  const update = (chunks: Uint8Array[]) => {
    for (const c of chunks) h.update(c);
  };
  return {
    update,
    save: () => Buffer.from(h.save()).toString('base64'),
    digest: () => h.digest('hex'),
  };
}

const writevP = (fd: number, chunks: Uint8Array[], position: number) =>
  new Promise<number>((resolve, reject) => writev(fd, chunks, position, (err, n) => (err ? reject(err) : resolve(n))));

/**
 * Writes `chunks` to `fd` at `position` (one pool job with the addon: see native-addon.ts;
 * else node:fs writev, without the early writeback). Resolves with the bytes written; a
 * failure carries `written`, the bytes written before it.
 */
export async function writeChunks(fd: number, position: number, chunks: Uint8Array[], waitFrom: number, waitTo: number): Promise<number> {
  if (native) return native.writeAsync(null, fd, position, chunks, waitFrom, waitTo);
  const total = chunks.reduce((n, c) => n + c.length, 0);
  let written = 0;
  try {
    while (written < total) {
      const n = await writevP(fd, written ? prefixFrom(chunks, written) : chunks, position + written);
      if (n === 0) throw Object.assign(new Error('write returned 0'), { code: 'EIO' });
      written += n;
    }
  } catch (err) {
    throw Object.assign(err as Error, { written });
  }
  return written;
}

/** `chunks` without their first `bytes` bytes. */
function prefixFrom(chunks: Uint8Array[], bytes: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of chunks) {
    if (bytes >= c.length) bytes -= c.length;
    else {
      out.push(bytes ? c.subarray(bytes) : c);
      bytes = 0;
    }
  }
  return out;
}

/**
 * Chunks given to `update` are hashed in order, in the background (a pool thread with
 * the native engine), batched while a batch runs. `offset` counts the bytes hashed;
 * `backlog` the bytes given but not hashed yet. `save()` and `digest()` wait for the
 * backlog. `afterBatch` runs between batches, when the state matches `offset`.
 */
const MIN_BATCH = 2 * 2 ** 20;
/** Bytes given and not yet hashed, at most, before the one who gives them waits (see behind). */
const MAX_BACKLOG = 16 * 2 ** 20;

export class ResumableSha256 {
  private pending: Uint8Array[] = [];
  private onHashed: (() => void)[] = [];
  private running: Promise<void> | undefined;
  private failed: unknown;
  backlog = 0;
  afterBatch?: () => void;

  private constructor(
    private readonly engine: Engine,
    public offset: number,
  ) {}

  static async create(): Promise<ResumableSha256> {
    return new ResumableSha256(native ? opensslEngine(native) : await wasmEngine(), 0);
  }

  /** Continues a saved state; undefined when this process cannot (another engine wrote it). */
  static async restore(saved: HashState): Promise<ResumableSha256 | undefined> {
    if (saved.engine !== sha256Engine) return undefined;
    try {
      return new ResumableSha256(native ? opensslEngine(native, saved.state) : await wasmEngine(saved.state), saved.offset);
    } catch {
      return undefined;
    }
  }

  /** Queues `chunk`; `onHashed` runs once it is hashed (the chunk may be reused then). */
  update(chunk: Uint8Array, onHashed?: () => void): void {
    this.pending.push(chunk);
    if (onHashed) this.onHashed.push(onHashed);
    this.backlog += chunk.length;
    // A pool job costs ~15 µs of the event loop: hand over MiBs at a time, not 64 KiB chunks.
    if (this.backlog >= MIN_BATCH) this.running ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length) {
        const batch = this.pending;
        const callbacks = this.onHashed;
        this.pending = [];
        this.onHashed = [];
        await this.engine.update(batch);
        for (const done of callbacks) done();
        const bytes = batch.reduce((n, c) => n + c.length, 0);
        this.offset += bytes;
        this.backlog -= bytes;
        this.afterBatch?.();
      }
    } catch (err) {
      this.failed = err;
    } finally {
      this.running = undefined;
    }
  }

  /** Whether MAX_BACKLOG or more waits to be hashed: whoever gives the chunks should wait for settled() then. */
  get behind(): boolean {
    return this.backlog >= MAX_BACKLOG;
  }

  /** Resolves when every chunk given so far is hashed. */
  async settled(): Promise<void> {
    if (this.pending.length) this.running ??= this.drain();
    while (this.running) await this.running;
    if (this.failed) throw this.failed;
  }

  /** The state at `offset`; only between batches (in afterBatch, or after settled()). */
  save(): HashState {
    return { offset: this.offset, state: this.engine.save(), engine: sha256Engine };
  }

  /** The hex digest of the bytes hashed (call after settled()). */
  digest(): string {
    return this.engine.digest();
  }
}
