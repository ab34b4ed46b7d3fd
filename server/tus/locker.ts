import { ERRORS, type Lock, type Locker, type RequestRelease } from '@tus/utils';

/**
 * An in-process tus locker that waits without spinning: a FIFO queue per upload id.
 *
 * Why not @tus/server's MemoryLocker: its acquireLock re-calls itself through
 * setImmediate while it waits, growing a promise chain — a core at 100% and
 * ~100 MB/s of garbage for as long as a PATCH holds the lock (docs/tus-server-notes.md #13). On a
 * flaky network a half-dead PATCH holding the lock while the client's resume HEAD
 * waits is everyday life, so waiting must cost nothing.
 *
 * Semantics kept from tus: a waiter asks the holder once to let go (`requestRelease`,
 * which makes @tus/server abort the holder's request after lockDrainTimeout), then
 * waits its turn, up to `acquireTimeout`, or until its own request is aborted.
 */
export class QueueLocker implements Locker {
  private readonly holders = new Map<string, { release: RequestRelease; queue: Array<() => void> }>();

  constructor(
    private readonly acquireTimeout = 30_000,
    /** Told how long each lock() waited, in seconds (`gateway_lock_wait_seconds`). */
    private readonly onWait?: (seconds: number) => void,
  ) {}

  newLock(id: string): Lock {
    return new QueueLock(id, this.holders, this.acquireTimeout, this.onWait);
  }

  /** Whether some request holds the lock of `id` now (for status pages; takes nothing). */
  isLocked(id: string): boolean {
    return this.holders.has(id);
  }
}

class QueueLock implements Lock {
  private held = false;

  constructor(
    private readonly id: string,
    private readonly holders: Map<string, { release: RequestRelease; queue: Array<() => void> }>,
    private readonly timeout: number,
    private readonly onWait?: (seconds: number) => void,
  ) {}

  async lock(signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const current = this.holders.get(this.id);
    if (!current) {
      this.holders.set(this.id, { release: requestRelease, queue: [] });
      this.held = true;
      this.onWait?.(0);
      return;
    }
    const started = process.hrtime.bigint();
    if (signal.aborted) throw ERRORS.ERR_LOCK_TIMEOUT;
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        cleanup();
        resolve();
      };
      const fail = () => {
        cleanup();
        const i = current.queue.indexOf(wake);
        if (i >= 0) current.queue.splice(i, 1);
        reject(ERRORS.ERR_LOCK_TIMEOUT);
      };
      const timer = setTimeout(fail, this.timeout);
      const cleanup = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', fail);
      };
      signal.addEventListener('abort', fail, { once: true });
      current.queue.push(wake);
      // Ask the holder to finish up; errors here must not keep us from waiting.
      Promise.resolve()
        .then(() => current.release())
        .catch(() => undefined);
    });
    // The lock was handed to us directly by unlock(): the entry stays, its holder changes.
    current.release = requestRelease;
    this.held = true;
    this.onWait?.(Number(process.hrtime.bigint() - started) / 1e9);
  }

  async unlock(): Promise<void> {
    if (!this.held) throw new Error('Releasing an unlocked lock!');
    this.held = false;
    const entry = this.holders.get(this.id);
    if (!entry) return;
    const next = entry.queue.shift();
    if (next) next();
    else this.holders.delete(this.id);
  }
}
