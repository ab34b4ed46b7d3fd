import { describe, expect, it } from 'vitest';
import { bodyOf, byteSorted, expectClientError, expectGatewayError, keyOfBytes, listKeys, type MakeStore, readAll, type StoreContractCaps, useContractStore } from './kit.ts';

/** The Store contract, keys (docs/api.md §3). */
export function shouldValidateKeys(makeStore: MakeStore, caps: StoreContractCaps): void {
  describe('keys', () => {
    const { store, ns } = useContractStore(makeStore);
    it('round trips unicode keys and lists them under a unicode prefix', async () => {
      const p = ns();
      const keys = [
        `${p}/models/jörg/模型 v1.onnx`,
        `${p}/models/jörg/🚀 launch 😀.bin`,
        `${p}/models/ǅemal/ﬁle ü.pt`,
        `${p}/models/café`, // NFC é
      ];
      // Keys are NFC: the NFD twin (e + combining acute) is refused, never a second object that looks the same.
      await expectGatewayError(store.put(`${p}/models/cafe\u0301`, bodyOf(Buffer.from('twin'))), 'InvalidKey');
      await expectGatewayError(store.stat(`${p}/models/cafe\u0301`), 'InvalidKey');
      for (const [i, key] of keys.entries()) {
        const info = await store.put(key, bodyOf(Buffer.from(`object ${i}`)), { contentType: 'text/plain' });
        expect(info.key).toBe(key);
      }
      for (const [i, key] of keys.entries()) {
        expect((await store.stat(key)).key).toBe(key);
        const got = await store.get(key);
        expect(got.info.key).toBe(key);
        expect((await readAll(got.body)).toString()).toBe(`object ${i}`);
      }
      expect(await listKeys(store, `${p}/`)).toEqual(byteSorted(keys));
      expect(await listKeys(store, `${p}/models/jörg/`)).toEqual(byteSorted(keys.slice(0, 2)));
      expect(await listKeys(store, `${p}/models/caf`)).toEqual([`${p}/models/café`]);
    });

    it('accepts a key of exactly 1024 bytes of UTF-8', async () => {
      const key = keyOfBytes(`${ns()}/`, 1024);
      expect(Buffer.byteLength(key)).toBe(1024);
      await store.put(key, bodyOf(Buffer.from('long key')));
      expect((await store.stat(key)).key).toBe(key);
      expect((await readAll((await store.get(key)).body)).toString()).toBe('long key');
      expect(await listKeys(store, key.slice(0, key.indexOf('/') + 1))).toEqual([key]);
      await store.delete(key);
      await expectGatewayError(store.stat(key), 'NoSuchKey');
    });

    it('accepts segments that start with dots ("...", ".hidden", ".tmp") anywhere in a key', async () => {
      // docs/api.md §3 forbids only "." and ".." segments; on localfs any internal directory name is just another key.
      const p = ns();
      const keys = ['.tmp/x', '.hidden', `${p}/.tmp/y`, `${p}/.../z`, `${p}/.x/.y`, `${p}/a.meta.json.bak`];
      for (const key of keys) {
        await store.put(key, bodyOf(Buffer.from(key)));
        expect((await readAll((await store.get(key)).body)).toString()).toBe(key);
      }
      expect(await listKeys(store, `${p}/`)).toEqual(byteSorted(keys.slice(2)));
      expect(await listKeys(store, '.tmp/')).toEqual(['.tmp/x']);
      for (const key of keys) await store.delete(key);
    });

    const invalidKeys: Array<[string, string]> = [
      ['the empty key', ''],
      ['a key with a leading slash', '/a'],
      ['a key with an empty segment', 'a//b'],
      ['a key ending in a slash', 'a/b/'],
      ['a key with a "." segment', 'a/./b'],
      ['a key with a ".." segment', 'a/../b'],
      ['the key ".."', '..'],
      ['the key "."', '.'],
      ['a key with NUL', 'a\u0000b'],
      ['a key with a line feed', 'a\nb'],
      ['a key with DEL', 'a\u007fb'],
      ['a key with a backslash', 'a\\b'],
      ['a key with a lone surrogate', 'a\uD800b'],
      ['a key of 1025 ASCII bytes', `${'x'.repeat(200)}/`.repeat(5) + 'x'.repeat(20)],
      ['a key of 1025 bytes ending in a two-byte character', `${'y'.repeat(200)}/`.repeat(5) + 'y'.repeat(18) + 'ö'],
      ['a key of 1025 bytes of multi-byte characters', keyOfBytes('m/', 1025)],
      ['a key in NFD (e + combining acute)', 'models/a/cafe\u0301.onnx'],
      ['a key with a right-to-left override', 'models/a/\u202Exnno.exe'],
      ['a key with a first-strong isolate', 'models/a/\u2068b'],
      ['a key with a left-to-right mark', 'models/a\u200E/b'],
      ['a key with an Arabic letter mark', 'models/a/\u061Cb'],
      ['a key with a zero-width space', 'models/a/b\u200B.onnx'],
      ['a key with a zero-width joiner', 'models/a/\u200Db'],
      ['a key with a byte-order mark', '\uFEFFmodels/a/b'],
      ['a key with a word joiner', 'models/a/b\u2060c'],
    ];
    if (caps.reservesSidecarSuffix) invalidKeys.push(['a key ending in .meta.json', 'models/a/b.meta.json']);

    for (const [label, bad] of invalidKeys) {
      it(`refuses ${label} with InvalidKey in put, get, stat, delete, copy and presign`, async () => {
        const good = `${ns()}/good`;
        await store.put(good, bodyOf(Buffer.from('x')));
        await expectGatewayError(store.put(bad, bodyOf(Buffer.from('x'))), 'InvalidKey');
        await expectGatewayError(store.put(bad, bodyOf(Buffer.from('x')), { size: 1 }), 'InvalidKey');
        await expectGatewayError(store.get(bad), 'InvalidKey');
        await expectGatewayError(store.stat(bad), 'InvalidKey');
        await expectGatewayError(store.delete(bad), 'InvalidKey');
        await expectGatewayError(store.copy(good, bad), 'InvalidKey');
        await expectGatewayError(store.copy(bad, good), 'InvalidKey');
        await expectGatewayError(store.presignedGetUrl(bad, { expiresIn: 60 }), 'InvalidKey');
        await expectGatewayError(store.presignedPutUrl(bad, { expiresIn: 60, size: 1 }), 'InvalidKey');
        expect((await store.stat(good)).size).toBe(1);
      });
    }

    if (!caps.reservesSidecarSuffix) {
      it('stores a key ending in .meta.json like any other', async () => {
        const key = `${ns()}/b.meta.json`;
        await store.put(key, bodyOf(Buffer.from('{}')), { contentType: 'application/json' });
        expect((await store.stat(key)).contentType).toBe('application/json');
      });
    }

    if (caps.keyMayAlsoBeFolder) {
      it('keeps "a" and "a/b" as two objects', async () => {
        const p = ns();
        await store.put(`${p}/a`, bodyOf(Buffer.from('file')));
        await store.put(`${p}/a/b`, bodyOf(Buffer.from('nested')));
        expect((await readAll((await store.get(`${p}/a`)).body)).toString()).toBe('file');
        expect((await readAll((await store.get(`${p}/a/b`)).body)).toString()).toBe('nested');
        expect(await listKeys(store, `${p}/`)).toEqual([`${p}/a`, `${p}/a/b`]);
        // And the name a sidecar would have on disk, as a folder.
        await store.put(`${p}/a.meta.json/x`, bodyOf(Buffer.from('odd')));
        expect(await listKeys(store, `${p}/`)).toEqual([`${p}/a`, `${p}/a.meta.json/x`, `${p}/a/b`]);
      });
    } else {
      it('refuses with a 4xx error a key that would make a file and a folder of one name, keeping the object there', async () => {
        const p = ns();
        await store.put(`${p}/a`, bodyOf(Buffer.from('file')));
        await expectClientError(store.put(`${p}/a/b`, bodyOf(Buffer.from('nested'))));
        await store.put(`${p}/c/d`, bodyOf(Buffer.from('nested')));
        await expectClientError(store.put(`${p}/c`, bodyOf(Buffer.from('file'))));
        await expectClientError(store.copy(`${p}/a`, `${p}/c`));
        expect((await readAll((await store.get(`${p}/a`)).body)).toString()).toBe('file');
        expect((await readAll((await store.get(`${p}/c/d`)).body)).toString()).toBe('nested');
        expect(await listKeys(store, `${p}/`)).toEqual([`${p}/a`, `${p}/c/d`]);
        // A folder named like the sidecar of an object is the same clash.
        await expectClientError(store.put(`${p}/a.meta.json/x`, bodyOf(Buffer.from('odd'))));
        await store.put(`${p}/e.meta.json/x`, bodyOf(Buffer.from('odd')));
        await expectClientError(store.put(`${p}/e`, bodyOf(Buffer.from('file'))));
        expect((await store.stat(`${p}/a`)).size).toBe(4);
        expect(await listKeys(store, `${p}/`)).toEqual([`${p}/a`, `${p}/c/d`, `${p}/e.meta.json/x`]);
      });
    }

    it('answers NoSuchKey, not an internal error, for a key below an object ("a" exists, "a/b" asked)', async () => {
      const p = ns();
      await store.put(`${p}/a`, bodyOf(Buffer.from('file')));
      await expectGatewayError(store.stat(`${p}/a/b`), 'NoSuchKey');
      await expectGatewayError(store.get(`${p}/a/b`), 'NoSuchKey');
      await expectGatewayError(store.copy(`${p}/a/b`, `${p}/z`), 'NoSuchKey');
      await store.delete(`${p}/a/b`);
      await expectGatewayError(store.stat(`${p}/a/b/c`), 'NoSuchKey');
    });
  });
}
