import { beforeAll, describe, expect, it } from 'vitest';
import type { ObjectInfo, Store } from '../../../server/storage/store.ts';
import { bodyOf, byteSorted, expectEtag, expectGatewayError, expectRecent, expectSameSecond, listKeys, listPages, type MakeStore, useContractStore } from './kit.ts';

/** The Store contract, list (docs/api.md §3). */
export function shouldList(makeStore: MakeStore): void {
  describe('list', () => {
    const { store, ns, fresh } = useContractStore(makeStore);
    // 25 names whose byte order differs from naive orders: '-' '.' '/' '0' around the
    // folder "a/", upper before lower case, and U+FF5E before U+1F600 in UTF-8 although
    // the emoji's surrogate 0xD83D sorts first in JavaScript's UTF-16 comparison.
    const names = [
      'a-b', 'a.b', 'a/x', 'a/y/z', 'a0', 'ab', 'a b', 'a+b', 'B', 'b', 'Z', 'z', '0', '9', '~tilde',
      'e', 'é', 'ea', 'jörg/模型 v1.onnx', 'jörg/model.bin', 'jo', '\uFF5E', '\u{1F600}.bin', '\u{1F600}x/y', '%41',
    ];

    async function putAll(store: Store, prefix: string): Promise<string[]> {
      const keys = names.map((n) => `${prefix}${n}`);
      for (const [i, key] of keys.entries()) {
        await store.put(key, bodyOf(Buffer.from(`#${i}`)), { contentType: 'text/plain', metadata: { n: String(i) } });
      }
      return byteSorted(keys);
    }

    let prefix: string;
    let sorted: string[];
    beforeAll(async () => {
      prefix = `${ns()}/`;
      sorted = await putAll(store, prefix);
    }, 120_000);

    it('sorts keys in UTF-8 byte order, not JavaScript string order', () => {
      // The premise of the next tests: the two orders really differ on these keys.
      expect(Buffer.compare(Buffer.from('\uFF5E'), Buffer.from('\u{1F600}'))).toBeLessThan(0);
      expect('\u{1F600}' < '\uFF5E').toBe(true);
    });

    it('returns all keys under a prefix in byte order with the default limit', async () => {
      const page = await store.list({ prefix });
      expect(page.objects.map((o) => o.key)).toEqual(sorted);
      expect(page.nextCursor).toBeUndefined();
    });

    for (const limit of [1, 2, 3, 7]) {
      it(`pages through the keys with limit ${limit}: no duplicate, no gap, byte order`, async () => {
        const pages = await listPages(store, { prefix, limit });
        for (const page of pages.slice(0, -1)) {
          expect(page.objects.length).toBe(limit);
          expect(page.nextCursor).toBeTypeOf('string');
        }
        expect(pages.at(-1)!.objects.length).toBeLessThanOrEqual(limit);
        expect(pages.at(-1)!.nextCursor).toBeUndefined();
        expect(pages.length).toBeLessThanOrEqual(Math.ceil(sorted.length / limit) + 1);
        expect(pages.flatMap((pg) => pg.objects.map((o) => o.key))).toEqual(sorted);
      });
    }

    it('gives no cursor when a limit larger than the listing returns everything', async () => {
      const page = await store.list({ prefix, limit: 1000 });
      expect(page.objects.length).toBe(sorted.length);
      expect(page.nextCursor).toBeUndefined();
    });

    const prefixes: Array<[string, string]> = [
      ['a prefix ending inside a segment', 'a'],
      ['a folder prefix', 'a/'],
      ['a unicode prefix', 'jö'],
      ['an emoji prefix', '\u{1F600}'],
      ['a prefix equal to a whole key', 'ab'],
    ];
    for (const [label, sub] of prefixes) {
      it(`filters by ${label} (${JSON.stringify(sub)}) as a plain string prefix`, async () => {
        const expected = sorted.filter((k) => k.startsWith(prefix + sub));
        expect(expected.length).toBeGreaterThan(0);
        expect(await listKeys(store, prefix + sub)).toEqual(expected);
        expect((await listPages(store, { prefix: prefix + sub, limit: 2 })).flatMap((pg) => pg.objects.map((o) => o.key))).toEqual(
          expected,
        );
      });
    }

    it('returns an empty page without cursor for a prefix that matches nothing', async () => {
      for (const p of [`${prefix}nothing-here`, `${prefix}a/x/`, `${ns()}/`, 'zz-absent-folder/']) {
        const page = await store.list({ prefix: p, limit: 3 });
        expect(page.objects).toEqual([]);
        expect(page.nextCursor).toBeUndefined();
      }
    });

    it('refuses a limit outside 1..1000 and a cursor it did not make with InvalidArgument', async () => {
      for (const limit of [0, -1, 1001, 2.5]) await expectGatewayError(store.list({ prefix, limit }), 'InvalidArgument');
      await expectGatewayError(store.list({ prefix, cursor: 'not a cursor!' }), 'InvalidArgument');
    });

    it('refuses a prefix that breaks the key rules with InvalidKey', async () => {
      for (const bad of ['/x', '../', 'a//', 'a/../b', 'a\u0000']) {
        await expectGatewayError(store.list({ prefix: bad }), 'InvalidKey');
      }
    });

    it('lists every object of the store with an empty or absent prefix', async () => {
      const own = await fresh();
      const keys = await putAll(own, 'p/');
      await own.put('q', bodyOf(Buffer.from('top level')));
      const all = byteSorted([...keys, 'q']);
      expect((await own.list()).objects.map((o) => o.key)).toEqual(all);
      expect((await own.list({ prefix: '' })).objects.map((o) => o.key)).toEqual(all);
      expect((await listPages(own, { prefix: '', limit: 4 })).flatMap((pg) => pg.objects.map((o) => o.key))).toEqual(all);
    }, 120_000);

    it('lists empty for an empty store', async () => {
      const own = await fresh();
      const page = await own.list({ limit: 10 });
      expect(page.objects).toEqual([]);
      expect(page.nextCursor).toBeUndefined();
    }, 60_000);

    it('gives complete ObjectInfo in listings, equal to stat', async () => {
      const page = await store.list({ prefix, limit: 5 });
      expect(page.objects.length).toBe(5);
      for (const listed of page.objects) {
        const stat = await store.stat(listed.key);
        expect(listed.size).toBe(stat.size);
        expect(listed.size).toBe(Buffer.byteLength(`#${names.indexOf(listed.key.slice(prefix.length))}`));
        expect(listed.contentType).toBe('text/plain');
        expect(listed.etag).toBe(stat.etag);
        expectEtag(listed.etag);
        expectSameSecond(listed.lastModified, stat.lastModified);
        expectRecent(listed.lastModified);
        expect(listed.metadata).toEqual({ n: String(names.indexOf(listed.key.slice(prefix.length))) });
        expect(listed.metadata).toEqual(stat.metadata);
      }
    });
  });
}
