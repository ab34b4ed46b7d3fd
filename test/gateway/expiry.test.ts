import { existsSync } from 'node:fs';
import { readJournal } from '../../server/tus/journal.ts';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../../server/main.ts';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { startGateway } from '../support/gateway.ts';
import { makeS3Client } from '../support/services.ts';
import { pairingEnv } from './pairings.ts';

const TUS = { 'Tus-Resumable': '1.0.0' };
const meta = (filename: string) => `filename ${Buffer.from(filename).toString('base64')},owner ${Buffer.from('exp').toString('base64')}`;

async function create(url: string, length: number, filename: string): Promise<string> {
  const res = await fetch(`${url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': String(length), 'Upload-Metadata': meta(filename) } });
  expect(res.status).toBe(201);
  return new URL(res.headers.get('location')!, url).pathname.split('/').pop()!;
}

async function patch(url: string, id: string, offset: number, body: Buffer) {
  return fetch(`${url}/files/${id}`, {
    method: 'PATCH',
    headers: { ...TUS, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
    body: new Uint8Array(body),
  });
}

describe.each(['file+localfs', 's3+s3'] as const)('expiration on %s', (pairing) => {
  let gw: RunningGateway & { dataDir: string };
  let env: Record<string, string> = {};
  beforeAll(async () => {
    env = pairing === 's3+s3' ? await pairingEnv('s3+s3') : {};
    gw = await startGateway({ env: { ...env, LOG_LEVEL: process.env.GW_LOG ?? 'silent' }, yaml: 'tus: { expiration: 3s, cleanupInterval: 1s }' });
  });
  afterAll(() => gw.close());

  it('removes incomplete uploads and forgets finished-upload records after tus.expiration, keeping the object', async () => {
    const partial = await create(gw.url, 100, 'partial.bin');
    expect((await patch(gw.url, partial, 0, Buffer.alloc(40, 1))).status).toBe(204);
    const done = await create(gw.url, 10, 'done.bin');
    const fin = await patch(gw.url, done, 0, Buffer.alloc(10, 2));
    expect(fin.status).toBe(204);
    expect(fin.headers.get('object-key')).toBe('models/exp/done.bin');

    // Within the expiration both still answer.
    expect((await fetch(`${gw.url}/files/${partial}`, { method: 'HEAD', headers: TUS })).headers.get('upload-offset')).toBe('40');
    expect((await fetch(`${gw.url}/files/${done}`, { method: 'HEAD', headers: TUS })).status).toBe(200);

    await sleep(5500);
    const headPartial = await fetch(`${gw.url}/files/${partial}`, { method: 'HEAD', headers: TUS });
    expect([404, 410]).toContain(headPartial.status);
    expect(existsSync(join(gw.dataDir, 'tus', partial))).toBe(false);
    const journal = await readJournal(join(gw.dataDir, 'tus', '.gateway', 'journal'));
    expect(journal.get('infos')?.has(partial) ?? false).toBe(false);
    if (pairing === 's3+s3') {
      // Nothing of the incomplete upload is left in the bucket: no info object, no multipart upload.
      const s3 = makeS3Client();
      try {
        const objects = await s3.send(new ListObjectsV2Command({ Bucket: env.S3_BUCKET, Prefix: '.tus/' }));
        expect((objects.Contents ?? []).map((o) => o.Key)).toEqual([]);
        const mpu = await s3.send(new ListMultipartUploadsCommand({ Bucket: env.S3_BUCKET }));
        expect(mpu.Uploads ?? []).toEqual([]);
      } finally {
        s3.destroy();
      }
    }
    // No upload record is left: neither the expired upload's nor, past tus.expiration, the finished one's.
    const records = (await readJournal(join(gw.dataDir, 'tus', '.gateway', 'journal'))).get('records');
    expect([...(records?.keys() ?? [])]).toEqual([]);
    expect((await fetch(`${gw.url}/api/uploads/${done}`)).status).toBe(404);
    // The object outlives its upload record.
    const obj = await fetch(`${gw.url}/api/objects/models/exp/done.bin`);
    expect(obj.status).toBe(200);
    expect(Buffer.from(await obj.arrayBuffer())).toEqual(Buffer.alloc(10, 2));
  }, 30_000);
});
