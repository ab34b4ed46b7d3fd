/**
 * Keys one way, and incomplete uploads are not objects: the whole gateway on a real socket,
 * on file+localfs and on s3+s3 (the Ceph RGW of the global set-up, the s3 tus datastore).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createUpload,
  encodedKey,
  head,
  objectPath,
  patch,
  raw,
  randomData,
  usePairingGateway,
  type TestGateway,
} from '../gateway/pairings.ts';

async function upload(gw: TestGateway, metadata: Record<string, string>, data: Buffer): Promise<string> {
  const { url } = await createUpload(gw.url, { length: data.length, metadata });
  const res = await patch(url, 0, data);
  expect(res.status, res.text).toBe(204);
  return String(res.headers['object-key']).split('/').map(decodeURIComponent).join('/');
}

const presign = (gw: TestGateway, body: unknown) =>
  raw(`${gw.url}/api/presign`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

for (const pairing of ['file+localfs', 's3+s3'] as const) {
  describe(`keys one way (${pairing})`, { timeout: 60_000 }, () => {
    const gw = usePairingGateway(pairing);

    it('a percent-encoded "/" inside a segment is not a separator: 400 InvalidKey, the object untouched', async () => {
      const data = randomData(1000);
      const key = await upload(gw, { owner: 'alice', filename: 'slash.bin' }, data);
      expect(key).toBe('models/alice/slash.bin');
      expect((await raw(gw.url + objectPath(key))).status).toBe(200);
      for (const path of ['models%2Falice%2Fslash.bin', 'models/alice%2Fslash.bin', 'models%2falice/slash.bin', 'models%2Falice/..%2Fslash.bin']) {
        for (const method of ['GET', 'HEAD', 'DELETE']) {
          const res = await raw(`${gw.url}/api/objects/${path}`, { method });
          expect(res.status, `${method} ${path}`).toBe(400);
          if (method !== 'HEAD') expect(res.json?.error?.code, `${method} ${path}`).toBe('InvalidKey');
        }
      }
      if (pairing === 'file+localfs') {
        const res = await raw(`${gw.url}/storage/models%2Falice%2Fslash.bin?expires=9999999999&signature=${'0'.repeat(64)}`);
        expect(res.status).toBe(400);
        expect(res.json?.error?.code).toBe('InvalidKey');
      }
      const got = await raw(gw.url + objectPath(key));
      expect(got.status).toBe(200);
      expect(got.body.equals(data)).toBe(true);
    });

    it('an NFD file name and its NFC twin are one object (keys are NFC)', async () => {
      const nfd = 'cafe\u0301 model.onnx';
      const nfc = nfd.normalize('NFC');
      expect(nfc).not.toBe(nfd);
      const data = randomData(500);
      const key = await upload(gw, { owner: 'jose\u0301', filename: nfd }, data);
      expect(key).toBe(`models/${'jose\u0301'.normalize('NFC')}/${nfc}`);
      // Reached by either form in the path, listed once.
      for (const form of [key, key.normalize('NFD')]) {
        const res = await raw(`${gw.url}/api/objects/${encodedKey(form)}`);
        expect(res.status, form).toBe(200);
        expect(res.body.equals(data)).toBe(true);
      }
      const prefix = encodeURIComponent(`models/${'jose\u0301'}/`); // NFD prefix, normalised too
      const list = await raw(`${gw.url}/api/objects?prefix=${prefix}`);
      expect(list.status).toBe(200);
      expect(list.json.objects.map((o: { key: string }) => o.key)).toEqual([key]);
      // A presign of the NFD key signs the NFC one.
      const p = await presign(gw, { key: key.normalize('NFD'), method: 'GET' });
      expect(p.status).toBe(200);
      const viaUrl = await fetch(p.json.url);
      expect(viaUrl.status).toBe(200);
      expect(Buffer.from(await viaUrl.arrayBuffer()).equals(data)).toBe(true);
    });

    const invisible: Array<[string, string]> = [
      ['U+202E right-to-left override', '\u202E'],
      ['U+202A left-to-right embedding', '\u202A'],
      ['U+2066 left-to-right isolate', '\u2066'],
      ['U+2069 pop directional isolate', '\u2069'],
      ['U+200E left-to-right mark', '\u200E'],
      ['U+200F right-to-left mark', '\u200F'],
      ['U+061C Arabic letter mark', '\u061C'],
      ['U+200B zero-width space', '\u200B'],
      ['U+200C zero-width non-joiner', '\u200C'],
      ['U+200D zero-width joiner', '\u200D'],
      ['U+FEFF byte-order mark', '\uFEFF'],
      ['U+2060 word joiner', '\u2060'],
    ];

    it('bidi and zero-width controls in owner or filename → 400 at creation, nothing created', async () => {
      for (const [label, ch] of invisible) {
        for (const metadata of [{ owner: 'bob', filename: `invoice${ch}fdp.exe` }, { owner: `b${ch}ob`, filename: 'model.onnx' }]) {
          const res = await raw(`${gw.url}/files`, {
            method: 'POST',
            headers: {
              'Tus-Resumable': '1.0.0',
              'Upload-Length': '10',
              'Upload-Metadata': Object.entries(metadata).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(','),
            },
          });
          expect(res.status, `${label} in ${JSON.stringify(metadata)}`).toBe(400);
          expect(res.headers.location).toBeUndefined();
          expect(res.json?.error?.code).toBe('InvalidArgument');
        }
        const res = await raw(`${gw.url}/api/objects/${encodedKey(`models/bob/a${ch}b.onnx`)}`);
        expect(res.status, label).toBe(400);
        expect(res.json?.error?.code).toBe('InvalidKey');
        const p = await presign(gw, { key: `models/bob/a${ch}b.onnx`, method: 'PUT', size: 1 });
        expect(p.status, label).toBe(400);
        expect(p.json?.error?.code).toBe('InvalidKey');
      }
    });
  });
}

describe('s3: incomplete uploads are not objects (a real upload in flight on the s3 datastore)', { timeout: 60_000 }, () => {
  const gw = usePairingGateway('s3+s3');
  let id: string;
  let uploadUrl: string;
  const firstBytes = randomData(1000);
  beforeAll(async () => {
    // A visible object too, so listings have something to page through.
    await upload(gw, { owner: 'carol', filename: 'visible.bin' }, randomData(10));
    ({ id, url: uploadUrl } = await createUpload(gw.url, { length: 10_000_000, metadata: { owner: 'victim', filename: 'secret.onnx' } }));
    const res = await patch(uploadUrl, 0, firstBytes);
    expect(res.status, res.text).toBe(204);
  });

  const tusPrefix = () => gw.config.storage.s3.tusPrefix;

  it('the upload is really in flight under the tus prefix', async () => {
    expect(tusPrefix()).toBe('.tus/');
    const res = await head(uploadUrl);
    expect(res.status).toBe(200);
    expect(res.headers['upload-offset']).toBe(String(firstBytes.length));
  });

  it('no listing, page or cursor yields its id', async () => {
    for (const prefix of ['', '.', '.t', '.tus', '.tus/', `.tus/${id}`]) {
      let cursor: string | undefined;
      const seen: string[] = [];
      for (let pages = 0; pages < 50; pages++) {
        const res = await raw(`${gw.url}/api/objects?prefix=${encodeURIComponent(prefix)}&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status, `${prefix}: ${res.text}`).toBe(200);
        expect(res.text, prefix).not.toContain(id);
        seen.push(...res.json.objects.map((o: { key: string }) => o.key));
        cursor = res.json.nextCursor;
        if (!cursor) break;
        expect(Buffer.from(cursor, 'base64url').toString(), prefix).not.toContain(id);
      }
      expect(seen.filter((k) => k.startsWith('.tus/')), prefix).toEqual([]);
    }
    const crafted = Buffer.from(`.tus/${id}`).toString('base64url');
    const res = await raw(`${gw.url}/api/objects?cursor=${crafted}`);
    expect(res.status).toBe(400);
  });

  it('its data and .info are not reachable through /api/objects or presign, and DELETE cannot touch them', async () => {
    for (const key of [`.tus/${id}`, `.tus/${id}.info`, `.tus/${id}.part`]) {
      const get = await raw(gw.url + objectPath(key));
      expect(get.status, key).toBe(404);
      expect(get.json?.error?.code).toBe('NoSuchKey');
      expect((await raw(gw.url + objectPath(key), { method: 'HEAD' })).status, key).toBe(404);
      const del = await raw(gw.url + objectPath(key), { method: 'DELETE' });
      expect(del.status, key).toBe(400);
      expect(del.json?.error?.code).toBe('InvalidKey');
      for (const body of [{ key, method: 'GET' }, { key, method: 'PUT', size: 1 }]) {
        const p = await presign(gw, body);
        expect(p.status, `${key} ${body.method}`).toBe(400);
        expect(p.json?.error?.code).toBe('InvalidKey');
      }
    }
    // The upload survived every attempt, and resumes.
    const res = await head(uploadUrl);
    expect(res.status).toBe(200);
    expect(res.headers['upload-offset']).toBe(String(firstBytes.length));
  });
});
