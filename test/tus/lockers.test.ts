import { ERRORS, type Locker } from '@tus/utils';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { QueueLocker } from '../../server/tus/locker.ts';
import { RedisLocker } from '../../server/tus/redis-locker.ts';
import { redisUrl } from '../support/services.ts';

const never = () => new AbortController().signal;
const connections: Redis[] = [];
function redisLocker(prefix: string, acquireTimeout = 2000): RedisLocker {
  const r = new Redis(redisUrl());
  const sub = r.duplicate();
  connections.push(r, sub);
  return new RedisLocker(r, sub, { prefix, acquireTimeout, ttl: 3000 });
}
afterAll(async () => {
  await Promise.all(connections.map((c) => c.quit()));
});

function describeLocker(name: string, make: (prefix: string, timeout?: number) => [Locker, Locker]) {
  describe(name, () => {
    it('asks the holder to let go, and hands the lock over as soon as it is released', async () => {
      const [a, b] = make(`t1-${Math.random()}:`);
      let asked = 0;
      const held = a.newLock('up1');
      await held.lock(never(), () => {
        asked++;
        setTimeout(() => void held.unlock(), 200);
      });
      const t0 = Date.now();
      const waiter = b.newLock('up1');
      await waiter.lock(never(), () => undefined);
      const waited = Date.now() - t0;
      expect(asked).toBe(1);
      expect(waited).toBeGreaterThanOrEqual(150);
      expect(waited).toBeLessThan(1500);
      await waiter.unlock();
    });

    it('waits without burning CPU, and gives up with ERR_LOCK_TIMEOUT', async () => {
      const [a, b] = make(`t2-${Math.random()}:`, 1500);
      const held = a.newLock('up2');
      await held.lock(never(), () => undefined); // a holder that never lets go (a half-dead PATCH)
      const cpu0 = process.cpuUsage();
      const rss0 = process.memoryUsage().rss;
      await expect(b.newLock('up2').lock(never(), () => undefined)).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT);
      const cpu = process.cpuUsage(cpu0);
      // MemoryLocker spins on setImmediate here: a whole core for the whole wait (docs/tus-server-notes.md #13).
      expect((cpu.user + cpu.system) / 1000).toBeLessThan(300);
      expect(process.memoryUsage().rss - rss0).toBeLessThan(30 * 2 ** 20);
      await held.unlock();
    });

    it('stops waiting when the waiting request is aborted', async () => {
      const [a, b] = make(`t3-${Math.random()}:`);
      const held = a.newLock('up3');
      await held.lock(never(), () => undefined);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      const t0 = Date.now();
      await expect(b.newLock('up3').lock(ac.signal, () => undefined)).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT);
      expect(Date.now() - t0).toBeLessThan(1000);
      await held.unlock();
    });

    it('serves waiters one at a time', async () => {
      const [a, b] = make(`t4-${Math.random()}:`);
      const order: string[] = [];
      let inside = 0;
      await Promise.all(
        ['x', 'y', 'z', 'w'].map(async (n, i) => {
          const lock = (i % 2 ? a : b).newLock('up4');
          await lock.lock(never(), () => undefined);
          inside++;
          expect(inside).toBe(1);
          order.push(n);
          await new Promise((r) => setTimeout(r, 30));
          inside--;
          await lock.unlock();
        }),
      );
      expect(order.sort()).toEqual(['w', 'x', 'y', 'z']);
    });
  });
}

describeLocker('QueueLocker (one process)', (_p, timeout) => {
  const l = new QueueLocker(timeout ?? 2000);
  return [l, l];
});
describeLocker('RedisLocker (two instances on one Redis)', (prefix, timeout) => [redisLocker(prefix, timeout), redisLocker(prefix, timeout)]);
