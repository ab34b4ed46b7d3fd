import type { Redis } from 'ioredis';
import type { Delivery, DeliveryStatus, Outbox } from './events.ts';

// Records a delivery once: a second add of the same id (an event emitted again after a crash) is a no-op.
const ADD = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
end
return 0`;

// Takes the due deliveries and moves their due time past the lease, atomically: another
// gateway's worker sees them again only if this one died without settling them.
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[3], id) end
return ids`;

/**
 * The outbox shared by several gateways: each delivery is a JSON string under
 * `{prefix}d:{id}`; `{prefix}due` orders the pending ones by due time (a claim leases
 * them by pushing that time forward), `{prefix}age` by creation (the oldest-pending gauge),
 * `{prefix}delivered` and `{prefix}failed` keep the settled ones by completion time.
 * Durable as the Redis server is configured (appendonly yes for "nothing lost").
 */
export class RedisOutbox implements Outbox {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'gateway:outbox:',
  ) {}

  private doc(id: string) {
    return `${this.prefix}d:${id}`;
  }

  private set(status: DeliveryStatus | 'due' | 'age') {
    return `${this.prefix}${status}`;
  }

  async add(deliveries: Delivery[]): Promise<void> {
    for (const d of deliveries) {
      await this.redis.eval(ADD, 3, this.doc(d.id), this.set('due'), this.set('age'), JSON.stringify(d), d.nextAt, d.createdAt, d.id);
    }
  }

  private async docs(ids: string[]): Promise<Delivery[]> {
    if (ids.length === 0) return [];
    const texts = await this.redis.mget(ids.map((id) => this.doc(id)));
    return texts.filter((t): t is string => t !== null).map((t) => JSON.parse(t) as Delivery);
  }

  async claim(limit: number, leaseMs: number): Promise<Delivery[]> {
    const now = Date.now();
    const ids = (await this.redis.eval(CLAIM, 1, this.set('due'), now, limit, now + leaseMs)) as string[];
    return (await this.docs(ids)).filter((d) => d.status === 'pending');
  }

  async defer(id: string, until: number): Promise<void> {
    await this.redis.zadd(this.set('due'), 'XX', until, id);
  }

  async settle(d: Delivery): Promise<void> {
    const tx = this.redis.multi().set(this.doc(d.id), JSON.stringify(d));
    if (d.status === 'pending') tx.zadd(this.set('due'), d.nextAt, d.id);
    else tx.zrem(this.set('due'), d.id).zrem(this.set('age'), d.id).zadd(this.set(d.status), d.doneAt ?? Date.now(), d.id);
    const results = await tx.exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('redis transaction aborted');
  }

  async list(status: DeliveryStatus, limit: number): Promise<Delivery[]> {
    const ids = await this.redis.zrevrange(this.set(status === 'pending' ? 'age' : status), 0, limit - 1);
    return this.docs(ids);
  }

  async oldestPending(): Promise<number | undefined> {
    const [, score] = await this.redis.zrange(this.set('age'), 0, 0, 'WITHSCORES');
    return score === undefined ? undefined : Number(score);
  }

  async prune(before: number): Promise<void> {
    const ids = await this.redis.zrangebyscore(this.set('delivered'), '-inf', before, 'LIMIT', 0, 1000);
    if (ids.length === 0) return;
    await this.redis.multi().del(...ids.map((id) => this.doc(id))).zrem(this.set('delivered'), ...ids).exec();
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
  }
}

/**
 * The Redis outbox at `url`, with ioredis loaded and connected at its first use: a gateway
 * without Redis never loads the library (issue: backends' libraries only when used).
 */
export function lazyRedisOutbox(url: string): Outbox {
  let made: Promise<RedisOutbox> | undefined;
  const open = () =>
    (made ??= import('ioredis').then(({ Redis }) => new RedisOutbox(new Redis(url, { maxRetriesPerRequest: 3 }).on('error', () => undefined))));
  return {
    add: async (deliveries) => (await open()).add(deliveries),
    claim: async (limit, leaseMs) => (await open()).claim(limit, leaseMs),
    defer: async (id, until) => (await open()).defer(id, until),
    settle: async (delivery) => (await open()).settle(delivery),
    list: async (status, limit) => (await open()).list(status, limit),
    oldestPending: async () => (await open()).oldestPending(),
    prune: async (before) => (await open()).prune(before),
    close: async () => (made ? (await made).close() : undefined),
  };
}
