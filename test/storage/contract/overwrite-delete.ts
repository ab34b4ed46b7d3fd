import { describe, expect, it } from 'vitest';
import { bodyOf, expectGatewayError, listKeys, type MakeStore, readAll, useContractStore } from './kit.ts';

/** The Store contract, overwrite and delete (docs/api.md §3). */
export function shouldOverwriteAndDelete(makeStore: MakeStore): void {
  describe('overwrite and delete', () => {
    const { store, ns } = useContractStore(makeStore);
    it('replaces content, size, etag, content type and metadata on overwrite', async () => {
      const key = `${ns()}/overwritten`;
      const v1 = await store.put(key, bodyOf(Buffer.from('first version')), {
        contentType: 'text/plain',
        metadata: { version: '1', onlyInV1: 'yes' },
      });
      const v2Bytes = Buffer.from('{"second":"version, longer"}');
      const v2 = await store.put(key, bodyOf(v2Bytes), { contentType: 'application/json', metadata: { version: '2' } });
      expect(v2.etag).not.toBe(v1.etag);
      expect(v2.lastModified.getTime()).toBeGreaterThanOrEqual(Math.floor(v1.lastModified.getTime() / 1000) * 1000);
      const stat = await store.stat(key);
      expect(stat).toMatchObject({ size: v2Bytes.length, contentType: 'application/json', etag: v2.etag });
      expect(stat.metadata).toEqual({ version: '2' });
      expect(await readAll((await store.get(key)).body)).toEqual(v2Bytes);
    });

    it('treats a folder as no object: stat, get and copy answer NoSuchKey, delete leaves what is inside', async () => {
      const p = ns();
      await store.put(`${p}/dir/inner`, bodyOf(Buffer.from('inside')));
      await expectGatewayError(store.stat(`${p}/dir`), 'NoSuchKey');
      await expectGatewayError(store.get(`${p}/dir`), 'NoSuchKey');
      await expectGatewayError(store.copy(`${p}/dir`, `${p}/copy`), 'NoSuchKey');
      await store.delete(`${p}/dir`);
      expect((await readAll((await store.get(`${p}/dir/inner`)).body)).toString()).toBe('inside');
      expect(await listKeys(store, `${p}/`)).toEqual([`${p}/dir/inner`]);
    });

    it('completes a put into a folder that a concurrent delete is emptying', async () => {
      const p = ns();
      for (let i = 0; i < 15; i++) {
        await store.put(`${p}/shared/old`, bodyOf(Buffer.from('old')));
        const [, put] = await Promise.all([store.delete(`${p}/shared/old`), store.put(`${p}/shared/new${i}`, bodyOf(Buffer.from(`new ${i}`)))]);
        expect(put.key).toBe(`${p}/shared/new${i}`);
        expect((await readAll((await store.get(`${p}/shared/new${i}`)).body)).toString()).toBe(`new ${i}`);
        await store.delete(`${p}/shared/new${i}`);
      }
      expect(await listKeys(store, `${p}/`)).toEqual([]);
    });

    it('resolves when deleting an absent key, also under an absent folder', async () => {
      const p = ns();
      await expect(store.delete(`${p}/never-there`)).resolves.toBeUndefined();
      await expect(store.delete(`${p}/no/such/folder/x`)).resolves.toBeUndefined();
    });

    it('makes a deleted object absent to stat, get, copy and list, and lets the key be used again', async () => {
      const p = ns();
      const key = `${p}/deep/folder/doomed.bin`;
      await store.put(key, bodyOf(Buffer.from('bye')));
      await store.delete(key);
      await expectGatewayError(store.stat(key), 'NoSuchKey');
      await expectGatewayError(store.get(key), 'NoSuchKey');
      await expectGatewayError(store.copy(key, `${p}/copy`), 'NoSuchKey');
      expect(await listKeys(store, `${p}/`)).toEqual([]);
      await store.delete(key);
      await store.put(key, bodyOf(Buffer.from('back')));
      expect((await readAll((await store.get(key)).body)).toString()).toBe('back');
    });
  });
}
