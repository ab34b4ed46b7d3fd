import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Journal, readJournal } from '../../server/tus/journal.ts';
import { startGateway, useGateway } from '../support/gateway.ts';
import { createUpload, head, patch, raw, tusHeaders } from './pairings.ts';

const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const json = (r: { json?: unknown }) => r.json as { error?: { code: string; message: string } };

describe('hardening (file+localfs)', () => {
  const gw = useGateway({ yaml: 'tus: { maxSize: 64MiB, expiration: 3s, cleanupInterval: 1s }' });

  it('acts on the upload named by the path, never on one smuggled into the query string', async () => {
    const a = await createUpload(gw.url, { length: 10, metadata: { filename: 'a.bin', owner: 'h' } });
    const b = await createUpload(gw.url, { length: 10, metadata: { filename: 'b.bin', owner: 'h' } });
    const res = await patch(`${a.url}?x=/${b.id}`, 0, Buffer.from('0123'));
    expect(res.status).toBe(204);
    expect((await head(a.url)).headers['upload-offset']).toBe('4');
    expect((await head(b.url)).headers['upload-offset']).toBe('0');
    const odd = await raw(`${a.url}?x=/.gateway`, { method: 'HEAD', headers: tusHeaders() });
    expect(odd.status).toBe(200);
  });

  it('refuses at creation an upload whose object key the Store cannot keep (localfs: *.meta.json)', async () => {
    const res = await raw(`${gw.url}/files`, {
      method: 'POST',
      headers: tusHeaders({ 'Upload-Length': '3', 'Upload-Metadata': `filename ${Buffer.from('w.meta.json').toString('base64')}` }),
    });
    expect(res.status).toBe(400);
    expect(json(res).error?.code).toBe('InvalidKey');
  });

  it('continues when the saved sha256 state is unreadable (torn by a power cut): the data is hashed again', async () => {
    const data = randomBytes(300_000);
    const up = await createUpload(gw.url, { length: data.length, metadata: { filename: 'torn.bin', owner: 'h' } });
    expect((await patch(up.url, 0, data.subarray(0, 100_000))).status).toBe(204);
    await writeFile(join(gw.dataDir, 'tus', '.gateway', 'hashes', `${up.id}.json`), '');
    expect((await patch(up.url, 100_000, data.subarray(100_000))).status).toBe(204);
    const info = await raw(`${gw.url}/api/objects?prefix=models/h/torn.bin`);
    expect((info.json as { objects: Array<{ metadata: { sha256: string } }> }).objects[0]!.metadata.sha256).toBe(sha256Hex(data));
  });

  it('never finalizes again the leftovers of a finished upload, even after its record expires', async () => {
    // A gateway of its own, restarted on the same data as after a crash right after `done`.
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-leftovers-'));
    const yaml = 'tus: { maxSize: 64MiB, expiration: 3s, cleanupInterval: 1s }';
    const journalDir = join(dataDir, 'tus', '.gateway', 'journal');
    try {
      const v1 = Buffer.from('version one');
      let first = await startGateway({ dataDir, yaml });
      const up = await createUpload(first.url, { length: v1.length, metadata: { filename: 'twice.bin', owner: 'h' } });
      expect((await patch(up.url, 0, v1.subarray(0, 5))).status).toBe(204);
      const info = (await readJournal(journalDir)).get('infos')?.get(up.id);
      expect(info).toBeDefined();
      expect((await patch(up.url, 5, v1.subarray(5))).status).toBe(204);
      await first.close();
      // What a crash between `done` and the removal of the tus copy leaves: the data and its info.
      await writeFile(join(dataDir, 'tus', up.id), v1);
      const journal = await Journal.open(journalDir);
      await journal.store('infos').set(up.id, JSON.parse(info!));
      await journal.close();
      first = await startGateway({ dataDir, yaml });
      try {
        // A newer version of the same object, uploaded afterwards.
        const v2 = Buffer.from('version two!');
        const up2 = await createUpload(first.url, { length: v2.length, metadata: { filename: 'twice.bin', owner: 'h', overwrite: 'true' } });
        expect((await patch(up2.url, 0, v2)).status).toBe(204);
        await sleep(5500); // past tus.expiration: the first record is forgotten
        const body = await raw(`${first.url}/api/objects/models/h/twice.bin`);
        expect(body.body.toString()).toBe('version two!');
        await expect(readFile(join(dataDir, 'tus', up.id))).rejects.toThrow();
        expect((await readJournal(journalDir)).get('infos')?.has(up.id)).toBe(false);
      } finally {
        await first.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 30_000);

  it('bounds a presigned PUT by tus.maxSize and by its signed size, with or without Content-Length', async () => {
    const ask = (size: number) =>
      raw(`${gw.url}/api/presign`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'h/put.bin', method: 'PUT', expiresIn: 60, size }),
      });
    const tooBig = await ask(65 * 2 ** 20);
    expect(tooBig.status).toBe(413);
    expect(json(tooBig).error?.code).toBe('EntityTooLarge');
    const presign = await ask(2 ** 20);
    const url = (presign.json as { url: string }).url.replace(/^http:\/\/[^/]+/, gw.url);
    const big = await raw(url, { method: 'PUT', headers: { 'Content-Length': String(65 * 2 ** 20) }, body: Buffer.alloc(0) });
    expect(big.status).toBe(403);
    expect(json(big).error?.code).toBe('SignatureDoesNotMatch');
    const chunked = await raw(url, { method: 'PUT', chunks: Array.from({ length: 65 }, () => Buffer.alloc(2 ** 20)) });
    expect(chunked.status).toBe(400);
    expect(json(chunked).error?.code).toBe('InvalidArgument');
    expect((await raw(`${gw.url}/api/objects/h/put.bin`, { method: 'HEAD' })).status).toBe(404);
    expect((await raw(`${gw.url}/healthz`)).status).toBe(200);
  });
});
