import { IoRedisKvStore } from '@tus/utils';
import type { Redis } from 'ioredis';
import type { RecordStore, SetOptions } from './records.ts';

/**
 * Upload records in Redis, shared by every gateway instance. @tus/utils'
 * IoRedisKvStore does the work; its list() returns the prefixed Redis keys, so
 * the prefix is taken off here.
 */
export class RedisRecordStore<T> implements RecordStore<T> {
  private readonly kv: IoRedisKvStore<T>;

  constructor(redis: Redis, private readonly prefix: string) {
    this.kv = new IoRedisKvStore<T>(redis, prefix);
  }

  get(key: string) {
    return this.kv.get(key);
  }

  /** Nothing to flush here: `after` only holds the write back. */
  async set(key: string, value: T, options: SetOptions = {}) {
    await options.after;
    return this.kv.set(key, value);
  }

  /** Seen by every instance once stored: nothing left to overlap. */
  async stage(key: string, value: T) {
    await this.set(key, value);
    return { durable: () => Promise.resolve() };
  }

  delete(key: string) {
    return this.kv.delete(key);
  }

  async list(): Promise<string[]> {
    return (await this.kv.list()).map((k) => k.slice(this.prefix.length));
  }
}
