import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ERRORS, type Lock, type Locker, type RequestRelease } from '@tus/utils';
import type { Redis } from 'ioredis';

// Compare-and-delete / compare-and-extend: only the holder's token may release or extend.
const UNLOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/**
 * A tus locker shared by every gateway instance on one Redis (docs/tus-server-notes.md #11):
 * `SET key token NX PX ttl`, kept alive while held, released by compare-and-delete.
 * A waiter publishes a release request to the holder (who may be in another
 * process), then sleeps until it hears `unlocked` or a back-off poll finds the key
 * free — it never spins (docs/tus-server-notes.md #13). A crashed holder's key expires after `ttl`.
 */
export class RedisLocker implements Locker {
  private readonly releaseHandlers = new Map<string, RequestRelease>();
  private readonly unlockWaiters = new Map<string, Set<() => void>>();
  private subscribed?: Promise<unknown>;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly options: { prefix?: string; ttl?: number; acquireTimeout?: number; onWait?: (seconds: number) => void } = {},
  ) {
    void this.ready().catch(() => undefined); // subscribe now; a failure is retried at the next lock
    subscriber.on('pmessage', (_pattern: string, channel: string) => {
      if (!channel.startsWith(this.prefix)) return; // another locker's, on the same connection
      const rest = channel.slice(this.prefix.length);
      if (rest.startsWith('release:')) void this.releaseHandlers.get(rest.slice(8))?.();
      else if (rest.startsWith('unlocked:')) for (const wake of this.unlockWaiters.get(rest.slice(9)) ?? []) wake();
    });
  }

  /** Subscribed once (ioredis re-subscribes after a reconnect); a failed attempt is forgotten, never an unhandled rejection. */
  private ready(): Promise<unknown> {
    this.subscribed ??= this.subscriber.psubscribe(`${this.prefix}release:*`, `${this.prefix}unlocked:*`).catch((err: unknown) => {
      this.subscribed = undefined;
      throw err;
    });
    return this.subscribed;
  }

  get prefix(): string {
    return this.options.prefix ?? 'gateway:lock:';
  }

  newLock(id: string): Lock {
    const key = `${this.prefix}${id}`;
    const ttl = this.options.ttl ?? 30_000;
    const timeout = this.options.acquireTimeout ?? 30_000;
    const token = randomBytes(16).toString('hex');
    let renew: NodeJS.Timeout | undefined;
    return {
      lock: async (signal: AbortSignal, requestRelease: RequestRelease) => {
        const started = process.hrtime.bigint();
        await this.ready();
        const deadline = Date.now() + timeout;
        let delay = 25;
        let asked = false;
        for (;;) {
          if ((await this.redis.set(key, token, 'PX', ttl, 'NX')) === 'OK') break;
          if (signal.aborted || Date.now() > deadline) throw ERRORS.ERR_LOCK_TIMEOUT;
          if (!asked) {
            await this.redis.publish(`${this.prefix}release:${id}`, token);
            asked = true;
          }
          await this.waitUnlocked(id, Math.min(delay, deadline - Date.now()), signal);
          delay = Math.min(delay * 2, 500);
        }
        this.options.onWait?.(Number(process.hrtime.bigint() - started) / 1e9);
        this.releaseHandlers.set(id, requestRelease);
        renew = setInterval(() => void this.redis.eval(EXTEND, 1, key, token, String(ttl)).catch(() => undefined), ttl / 3);
        renew.unref();
      },
      unlock: async () => {
        clearInterval(renew);
        this.releaseHandlers.delete(id);
        await this.redis.eval(UNLOCK, 1, key, token);
        await this.redis.publish(`${this.prefix}unlocked:${id}`, '');
      },
    };
  }

  private async waitUnlocked(id: string, ms: number, signal: AbortSignal): Promise<void> {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const set = this.unlockWaiters.get(id) ?? new Set();
    set.add(wake);
    this.unlockWaiters.set(id, set);
    try {
      await Promise.race([woken, sleep(Math.max(ms, 1), undefined, { signal }).catch(() => undefined)]);
    } finally {
      set.delete(wake);
      if (set.size === 0) this.unlockWaiters.delete(id);
    }
  }
}
