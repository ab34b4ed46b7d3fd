/**
 * The tus copy of a finished upload is removed after the final PATCH is answered, not before
 * (server/tus/finalize.ts): the client waits for its object, record and event, not for the
 * clean-up; a SIGTERM waits for the clean-up still under way. Against the real RGW, through a
 * TCP proxy that holds the DeleteObjects request of the clean-up.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { makeS3Client } from '../support/services.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { createUpload, MiB, pairingEnv, patch, randomData, raw, uniqueName } from './pairings.ts';

describe('clean-up after the answer (s3+s3)', () => {
  let proxy: TcpProxy | undefined;
  let gw: GatewayProcess | undefined;
  let dataDir: string | undefined;
  afterAll(async () => {
    await gw?.kill9();
    await proxy?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('answers the final PATCH while the DeleteObjects of the tus copy is held; SIGTERM waits for it; nothing is left under the tus prefix', { timeout: 60_000 }, async () => {
    const env = await pairingEnv('s3+s3');
    const s3 = new URL(env.S3_ENDPOINT!);
    proxy = await startTcpProxy({ port: Number(s3.port), host: s3.hostname });
    dataDir = await mkdtemp(join(tmpdir(), 'gw-cleanup-'));
    gw = await startGateway({ child: true, env: { ...env, S3_ENDPOINT: proxy.url }, dataDir });

    const data = randomData(6 * MiB + 123);
    const filename = uniqueName('cleanup');
    const { url, id } = await createUpload(gw.url, { length: data.length, metadata: { filename, owner: 'cleanup' } });
    // DeleteObjects is `POST /{bucket}?delete`: the only request of the gateway with that query.
    const held = proxy.holdOn('?delete');
    const answer = await Promise.race([patch(url, 0, data), sleep(20_000).then(() => 'no answer' as const)]);
    if (answer === 'no answer') expect.unreachable('the final PATCH waited for the clean-up');
    expect(answer.status).toBe(204);
    expect(answer.headers['object-key']).toBe(`models/cleanup/${filename}`);
    await held; // the clean-up has begun, and is stuck
    const object = await raw(`${gw.url}/api/objects/models/cleanup/${filename}`);
    expect(object.status).toBe(200);
    expect(Buffer.compare(object.body, data)).toBe(0);

    // SIGTERM: the process does not exit while the clean-up is held, and exits 0 once it is let go.
    const stopped = gw.stop();
    expect(await Promise.race([stopped.then(() => 'exited'), sleep(1500).then(() => 'waiting')])).toBe('waiting');
    proxy.releaseAll();
    expect(await stopped).toBe(0);

    const client = makeS3Client();
    try {
      const left = await client.send(new ListObjectsV2Command({ Bucket: env.S3_BUCKET, Prefix: `.tus/${id}` }));
      expect((left.Contents ?? []).map((o) => o.Key)).toEqual([]);
    } finally {
      client.destroy();
    }
  });
});
