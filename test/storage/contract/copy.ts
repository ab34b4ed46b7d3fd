import { describe, expect, it } from 'vitest';
import { bodyOf, expectGatewayError, type MakeStore, pseudoRandomBytes, readAll, sha256, useContractStore } from './kit.ts';

/** The Store contract, copy (docs/api.md §3). */
export function shouldCopy(makeStore: MakeStore): void {
  describe('copy', () => {
    const { store, ns } = useContractStore(makeStore);
    const metadata = { owner: 'jörg', uploadId: 'u-1', sha256: 'abc' };

    it('copies content, size, content type and metadata, leaving the source intact', async () => {
      const p = ns();
      const from = `${p}/src/模型.onnx`;
      const to = `${p}/dst/模型 copy.onnx`;
      const bytes = pseudoRandomBytes(300_000, 51);
      await store.put(from, bodyOf(bytes), { contentType: 'application/x-onnx', metadata });
      const info = await store.copy(from, to);
      for (const copied of [info, await store.stat(to)]) {
        expect(copied).toMatchObject({ key: to, size: bytes.length, contentType: 'application/x-onnx' });
        expect(copied.metadata).toEqual(metadata);
      }
      expect(sha256(await readAll((await store.get(to)).body))).toBe(sha256(bytes));
      expect(sha256(await readAll((await store.get(from)).body))).toBe(sha256(bytes));
      expect((await store.stat(from)).metadata).toEqual(metadata);
    });

    it('replaces metadata and content type when both are given', async () => {
      const p = ns();
      await store.put(`${p}/src`, bodyOf(Buffer.from('data')), { contentType: 'text/plain', metadata });
      const info = await store.copy(`${p}/src`, `${p}/dst`, { metadata: { fresh: 'ja, ñ' }, contentType: 'application/json' });
      expect(info.contentType).toBe('application/json');
      expect(info.metadata).toEqual({ fresh: 'ja, ñ' });
      const stat = await store.stat(`${p}/dst`);
      expect(stat.contentType).toBe('application/json');
      expect(stat.metadata).toEqual({ fresh: 'ja, ñ' });
      expect((await readAll((await store.get(`${p}/dst`)).body)).toString()).toBe('data');
    });

    it('keeps the content type when only the metadata is replaced, and the metadata when only the content type is', async () => {
      const p = ns();
      await store.put(`${p}/src`, bodyOf(Buffer.from('data')), { contentType: 'text/csv', metadata });
      await store.copy(`${p}/src`, `${p}/meta-only`, { metadata: { replaced: 'yes' } });
      const metaOnly = await store.stat(`${p}/meta-only`);
      expect(metaOnly.contentType).toBe('text/csv');
      expect(metaOnly.metadata).toEqual({ replaced: 'yes' });
      await store.copy(`${p}/src`, `${p}/type-only`, { contentType: 'application/json' });
      const typeOnly = await store.stat(`${p}/type-only`);
      expect(typeOnly.contentType).toBe('application/json');
      expect(typeOnly.metadata).toEqual(metadata);
    });

    it('replaces the metadata of an object copied onto itself', async () => {
      const key = `${ns()}/self`;
      await store.put(key, bodyOf(Buffer.from('same bytes')), { contentType: 'text/plain', metadata });
      await store.copy(key, key, { metadata: { retagged: 'true' } });
      const stat = await store.stat(key);
      expect(stat.metadata).toEqual({ retagged: 'true' });
      expect((await readAll((await store.get(key)).body)).toString()).toBe('same bytes');
    });

    it('overwrites an existing destination', async () => {
      const p = ns();
      await store.put(`${p}/src`, bodyOf(Buffer.from('new')), { contentType: 'text/plain' });
      await store.put(`${p}/dst`, bodyOf(Buffer.from('old and longer')), { metadata: { stale: '1' } });
      await store.copy(`${p}/src`, `${p}/dst`);
      const stat = await store.stat(`${p}/dst`);
      expect(stat).toMatchObject({ size: 3, contentType: 'text/plain' });
      expect(stat.metadata).toEqual({});
      expect((await readAll((await store.get(`${p}/dst`)).body)).toString()).toBe('new');
    });

    it('refuses to copy an absent object with NoSuchKey and creates nothing', async () => {
      const p = ns();
      await expectGatewayError(store.copy(`${p}/absent`, `${p}/dst`), 'NoSuchKey');
      await expectGatewayError(store.stat(`${p}/dst`), 'NoSuchKey');
    });
  });
}
