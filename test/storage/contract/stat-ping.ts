import { describe, expect, it } from 'vitest';
import { bodyOf, expectGatewayError, expectRecent, expectSameSecond, type MakeStore, useContractStore } from './kit.ts';

/** The Store contract, stat and ping (docs/api.md §3). */
export function shouldStatAndPing(makeStore: MakeStore): void {
  describe('stat and ping', () => {
    const { store, ns } = useContractStore(makeStore);
    it('answers ping while the backend is up', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('stats an object with its complete info, equal to what put returned', async () => {
      const key = `${ns()}/stat me`;
      const put = await store.put(key, bodyOf(Buffer.from('12345')), { contentType: 'text/plain', metadata: { a: 'b' } });
      const stat = await store.stat(key);
      expect(stat).toMatchObject({ key, size: 5, contentType: 'text/plain', etag: put.etag });
      expect(stat.metadata).toEqual({ a: 'b' });
      expect(stat.lastModified).toBeInstanceOf(Date);
      expectSameSecond(stat.lastModified, put.lastModified);
      expectRecent(stat.lastModified);
    });

    it('answers NoSuchKey to stat and get of an absent key', async () => {
      await expectGatewayError(store.stat(`${ns()}/absent`), 'NoSuchKey');
      await expectGatewayError(store.get(`${ns()}/absent`), 'NoSuchKey');
    });

    it('declares its kind', () => {
      expect(['localfs', 's3']).toContain(store.kind);
    });
  });
}
