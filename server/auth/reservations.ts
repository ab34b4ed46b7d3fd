import type { Redis } from 'ioredis';

/**
 * A key is reserved by the upload in flight that targets it: while it lasts, a second creation
 * or a presigned PUT for the key gets 409. A reservation ends when its upload is no longer live
 * (finished, terminated, swept: `isLive` says so) or its time-to-live (the upload's expiry) passes.
 */
export interface KeyReservations {
  /** Reserves `key` for `uploadId`; resolves with the live holder's id when someone else has it, else undefined. */
  take(key: string, uploadId: string, ttlMs: number, isLive: (holder: string) => Promise<boolean>): Promise<string | undefined>;
  /** The live holder of `key`, if any. */
  holder(key: string, isLive: (holder: string) => Promise<boolean>): Promise<string | undefined>;
  /** Ends `uploadId`'s reservation of `key` (nothing if someone else holds it now). */
  release(key: string, uploadId: string): Promise<void>;
}

/** One gateway: a Map. take() decides synchronously when the key is free, so two creations in one process cannot both win. */
export class MemoryReservations implements KeyReservations {
  private readonly byKey = new Map<string, { id: string; until: number }>();

  async take(key: string, uploadId: string, ttlMs: number, isLive: (holder: string) => Promise<boolean>) {
    for (;;) {
      const cur = this.current(key);
      if (!cur || cur === uploadId) {
        this.byKey.set(key, { id: uploadId, until: Date.now() + ttlMs });
        return undefined;
      }
      if (await isLive(cur)) return cur;
      // Stale: take it over unless someone else did while isLive was asked.
      if (this.current(key) === cur) this.byKey.delete(key);
    }
  }

  async holder(key: string, isLive: (holder: string) => Promise<boolean>) {
    const cur = this.current(key);
    return cur && (await isLive(cur)) ? cur : undefined;
  }

  async release(key: string, uploadId: string) {
    if (this.byKey.get(key)?.id === uploadId) this.byKey.delete(key);
  }

  private current(key: string): string | undefined {
    const r = this.byKey.get(key);
    if (r && r.until <= Date.now()) this.byKey.delete(key);
    return r && r.until > Date.now() ? r.id : undefined;
  }
}

// Compare-and-set / compare-and-delete: only the holder that was seen is replaced or released.
const REPLACE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) else return false end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** Several gateways on one Redis: SET NX with the upload's expiry; a stale holder is replaced by compare-and-set. */
export class RedisReservations implements KeyReservations {
  constructor(private readonly redis: Redis, private readonly prefix = 'gateway:reserve:') {}

  async take(key: string, uploadId: string, ttlMs: number, isLive: (holder: string) => Promise<boolean>) {
    const k = this.prefix + key;
    for (let attempt = 0; attempt < 5; attempt++) {
      if ((await this.redis.set(k, uploadId, 'PX', ttlMs, 'NX')) === 'OK') return undefined;
      const cur = await this.redis.get(k);
      if (cur === null) continue;
      if (cur === uploadId) return undefined;
      if (await isLive(cur)) return cur;
      if ((await this.redis.eval(REPLACE, 1, k, cur, uploadId, String(ttlMs))) === 'OK') return undefined;
    }
    // Five races lost in a row: someone is creating this key right now.
    return (await this.redis.get(k)) ?? 'unknown';
  }

  async holder(key: string, isLive: (holder: string) => Promise<boolean>) {
    const cur = await this.redis.get(this.prefix + key);
    return cur && (await isLive(cur)) ? cur : undefined;
  }

  async release(key: string, uploadId: string) {
    await this.redis.eval(RELEASE, 1, this.prefix + key, uploadId);
  }
}
