import { beforeAll, describe, expect, it } from 'vitest';
import { bodyOf, expectGatewayError, type MakeStore, pseudoRandomBytes, readAll, useContractStore } from './kit.ts';

/** The Store contract, ranges (docs/api.md §3). */
export function shouldServeRanges(makeStore: MakeStore): void {
  describe('ranges', () => {
    const { store, ns } = useContractStore(makeStore);
    const size = 1000;
    const bytes = pseudoRandomBytes(size, 41);
    let key: string;
    beforeAll(async () => {
      key = `${ns()}/ranged.bin`;
      await store.put(key, bodyOf(bytes), { size });
    });

    const satisfiable: Array<[string, number, number, number]> = [
      ['the first byte', 0, 0, 0],
      ['a middle range', 100, 199, 199],
      ['the last byte', size - 1, size - 1, size - 1],
      ['the whole object', 0, size - 1, size - 1],
      ['a range ending past the end, clamped to the last byte', 990, size + 5000, size - 1],
    ];
    for (const [label, start, end, servedEnd] of satisfiable) {
      it(`serves ${label} (${start}-${end})`, async () => {
        const got = await store.get(key, { range: { start, end } });
        expect(got.range).toEqual({ start, end: servedEnd });
        expect(got.info.size).toBe(size);
        const body = await readAll(got.body);
        expect(body.length).toBe(servedEnd - start + 1);
        expect(body).toEqual(bytes.subarray(start, servedEnd + 1));
      });
    }

    it('refuses a range starting at or past the end with InvalidRange', async () => {
      await expectGatewayError(store.get(key, { range: { start: size, end: size } }), 'InvalidRange');
      await expectGatewayError(store.get(key, { range: { start: size, end: size + 10 } }), 'InvalidRange');
      await expectGatewayError(store.get(key, { range: { start: size * 5, end: size * 6 } }), 'InvalidRange');
    });

    it('refuses any range of an empty object with InvalidRange', async () => {
      const empty = `${ns()}/empty`;
      await store.put(empty, bodyOf(Buffer.alloc(0)), { size: 0 });
      await expectGatewayError(store.get(empty, { range: { start: 0, end: 0 } }), 'InvalidRange');
    });

    it('answers NoSuchKey for a range of an absent object', async () => {
      await expectGatewayError(store.get(`${ns()}/absent`, { range: { start: 0, end: 0 } }), 'NoSuchKey');
    });
  });
}
