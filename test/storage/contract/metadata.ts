import { describe, expect, it } from 'vitest';
import type { ObjectInfo } from '../../../server/storage/store.ts';
import { bodyOf, type MakeStore, sha256, useContractStore } from './kit.ts';

/** The Store contract, metadata (docs/api.md §3). */
export function shouldKeepMetadata(makeStore: MakeStore): void {
  describe('metadata', () => {
    const { store, ns } = useContractStore(makeStore);
    const metadata = {
      filename: 'модель v1 — final.onnx',
      filetype: 'application/x-onnx',
      owner: 'jörg',
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      uploadId: '3f9a1c2e7b',
      relativePath: 'runs/模型/🚀.onnx',
      empty: '',
    };

    it('round trips metadata (UTF-8 values, camelCase names) and the content type through put, stat, get and list', async () => {
      const p = ns();
      const key = `${p}/with-metadata.onnx`;
      const contentType = 'application/x-onnx';
      const put = await store.put(key, bodyOf(Buffer.from('onnx')), { contentType, metadata });
      const got = await store.get(key);
      got.body.destroy(); // only the info is wanted here
      const infos: ObjectInfo[] = [put, await store.stat(key), got.info, ...(await store.list({ prefix: `${p}/` })).objects];
      expect(infos.length).toBe(4);
      for (const info of infos) {
        expect(info.contentType).toBe(contentType);
        expect(info.metadata).toEqual(metadata);
      }
    });

    it('keeps a content type with parameters', async () => {
      const key = `${ns()}/notes.txt`;
      await store.put(key, bodyOf(Buffer.from('ü')), { contentType: 'text/plain; charset=utf-8' });
      expect((await store.stat(key)).contentType).toBe('text/plain; charset=utf-8');
    });

    it('keeps metadata values byte for byte, spaces and line breaks included', async () => {
      const key = `${ns()}/whitespace`;
      const odd = { padded: '  two spaces around  ', lines: 'line 1\nline 2\r\n', tab: 'a\tb', equals: 'a=b; c="d"', percent: '100%25 %zz' };
      await store.put(key, bodyOf(Buffer.from('x')), { metadata: odd });
      expect((await store.stat(key)).metadata).toEqual(odd);
    });

    it('keeps metadata names exactly, case included, even names that differ only in case', async () => {
      // tus metadata keys are case-sensitive and may hold any character but space and comma.
      const key = `${ns()}/names`;
      const names = { Name: 'upper', name: 'lower', NAME: 'all caps', ключ: 'cyrillic', 'a.b': 'dot', 'with:colon': 'colon', 'ugw-names': 'reserved-looking' };
      await store.put(key, bodyOf(Buffer.from('x')), { metadata: names });
      expect((await store.stat(key)).metadata).toEqual(names);
      await store.copy(key, `${key}-copy`);
      expect((await store.stat(`${key}-copy`)).metadata).toEqual(names);
    });

    it('keeps as much metadata as tus admits (a 4 KiB Upload-Metadata header is about 3 KiB of values)', async () => {
      const key = `${ns()}/big-metadata`;
      const big = {
        filename: `${'模型'.repeat(30)}.onnx`,
        description: 'A model card summary. '.repeat(90).slice(0, 1900),
        tags: Array.from({ length: 60 }, (_, i) => `tag${i}`).join(','),
      };
      // More than AWS's 2 KB limit on user metadata, names and values together.
      expect(Buffer.byteLength(Object.entries(big).flat().join(''))).toBeGreaterThan(2048);
      await store.put(key, bodyOf(Buffer.from('x')), { metadata: big });
      expect((await store.stat(key)).metadata).toEqual(big);
    });

    it('gives an object put without content type a binary default', async () => {
      const key = `${ns()}/untyped`;
      await store.put(key, bodyOf(Buffer.from('x')));
      expect((await store.stat(key)).contentType).toMatch(/^(application|binary)\/octet-stream$/);
    });
  });
}
