import type { MetadataValue } from '@tus/s3-store';
import { IoRedisKvStore } from '@tus/utils';
import { Redis } from 'ioredis';
import { GatewayError } from '../errors.ts';
import { RedisLocker } from './redis-locker.ts';
import { RedisRecordStore } from './redis-records.ts';
import type { HashState } from './sha256-state.ts';
import type { UploadRecord } from './upload-record.ts';

/**
 * What several gateway instances behind one load balancer must share (TUS-NOTES 11):
 * the upload lock, the upload records and hash states, and @tus/s3-store's
 * upload-info cache — all in one Redis, named by `redis.url`.
 */
export function createShared(url: string) {
  const redis = new Redis(url, { maxRetriesPerRequest: 3, enableOfflineQueue: true, lazyConnect: false });
  const subscriber = redis.duplicate();
  // ioredis reconnects by itself; without a listener an 'error' event would end the process.
  redis.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  return {
    redis,
    locker: new RedisLocker(redis, subscriber),
    // Finalizing a 10 GB upload by an S3 copy takes minutes: whoever waits for it (an empty
    // PATCH, a resume HEAD on another instance) waits for it, not for a 30 s default.
    finalizeLocker: new RedisLocker(redis, subscriber, { prefix: 'gateway:finalize:', acquireTimeout: 6 * 3600_000 }),
    quotaLocker: new RedisLocker(redis, subscriber, { prefix: 'gateway:quota:' }),
    records: new RedisRecordStore<UploadRecord>(redis, 'gateway:record:'),
    hashes: new RedisRecordStore<HashState>(redis, 'gateway:hash:'),
    s3Cache: new IoRedisKvStore<MetadataValue>(redis, 'gateway:tus-s3:'),
    async ping() {
      try {
        await redis.ping();
      } catch (err) {
        throw new GatewayError('ServiceUnavailable', 'redis does not answer', { cause: err });
      }
    },
    async close() {
      await Promise.allSettled([redis.quit(), subscriber.quit()]);
    },
  };
}
