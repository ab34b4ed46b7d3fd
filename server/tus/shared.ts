import type { MetadataValue } from '@tus/s3-store';
import { IoRedisKvStore } from '@tus/utils';
import { errors } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { RedisLocker } from './redis-locker.ts';
import { RedisRecordStore } from './redis-records.ts';
import type { HashState } from './sha256-state.ts';
import type { UploadRecord } from './upload-record.ts';

/**
 * What several gateway instances behind one load balancer must share (docs/tus-server-notes.md #11):
 * the upload lock, the upload records and hash states, and @tus/s3-store's
 * upload-info cache — all in one Redis, named by `redis.url`.
 */
export async function createShared(url: string, logger?: Logger, metrics?: Metrics) {
  // Loaded only with `redis.url` set: a single gateway never loads ioredis.
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { maxRetriesPerRequest: 3, enableOfflineQueue: true, lazyConnect: false });
  const subscriber = redis.duplicate();
  // ioredis reconnects by itself; without a listener an 'error' event would end the process.
  // Loss and return are one log line each, not one per reconnect attempt.
  const where = redactUrl(url);
  let down = false;
  for (const [name, conn] of [['commands', redis], ['subscriber', subscriber]] as const) {
    conn.on('error', (err: Error) => {
      if (down) return;
      down = true;
      logger?.warn({ event: 'redis.down', connection: name, redis: where, reason: err.message }, `redis ${where} unavailable: ${err.message}`);
    });
    conn.on('ready', () => {
      if (!down) return;
      down = false;
      logger?.info({ event: 'redis.up', connection: name, redis: where }, `redis ${where} available again`);
    });
  }
  return {
    redis,
    locker: new RedisLocker(redis, subscriber, { onWait: (s) => metrics?.lockWait.observe({ locker: 'redis' }, s) }),
    // Finalizing a 10 GB upload by an S3 copy takes minutes: whoever waits for it (an empty
    // PATCH, a resume HEAD on another instance) waits for it, not for a 30 s default.
    finalizeLocker: new RedisLocker(redis, subscriber, { prefix: 'gateway:finalize:', acquireTimeout: 6 * 3600_000, onWait: (s) => metrics?.lockWait.observe({ locker: 'redis-finalize' }, s) }),
    quotaLocker: new RedisLocker(redis, subscriber, { prefix: 'gateway:quota:' }),
    records: new RedisRecordStore<UploadRecord>(redis, 'gateway:record:'),
    hashes: new RedisRecordStore<HashState>(redis, 'gateway:hash:'),
    s3Cache: new IoRedisKvStore<MetadataValue>(redis, 'gateway:tus-s3:'),
    async ping() {
      try {
        await redis.ping();
      } catch (err) {
        throw errors.unavailable('redis does not answer', err);
      }
    },
    async close() {
      await Promise.allSettled([redis.quit(), subscriber.quit()]);
    },
  };
}

/** `redis://user:secret@host:6379/0` → `redis://user:***@host:6379/0`: a log never shows the password. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(redis.url)';
  }
}
