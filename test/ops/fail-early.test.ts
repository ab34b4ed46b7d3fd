import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../../server/main.ts';
import { startGateway } from '../support/gateway.ts';
import { capturingLogger } from '../support/logs.ts';
import { createTestBucket, s3GatewayEnv, s3TestSettings } from '../support/services.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { freePort } from '../support/ports.ts';

const run = promisify(execFile);
const REDIS_SH = join(import.meta.dirname, '../support/redis.sh');

const createUpload = (gw: RunningGateway) =>
  fetch(`${gw.url}/files/`, {
    method: 'POST',
    headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '5', 'Upload-Metadata': `filename ${Buffer.from('m.onnx').toString('base64')}` },
  });

async function s3Env(overrides: Record<string, string> = {}) {
  return { STORAGE_BACKEND: 's3', ...s3GatewayEnv(), ...overrides };
}

describe('start-up checks the bucket and says in one line what is wrong', () => {
  const startFails = async (env: Record<string, string>): Promise<string> => {
    const err = await startGateway({ env }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).not.toContain('\n');
    return err!.message;
  };

  it('a missing bucket', async () => {
    const message = await startFails(await s3Env({ S3_BUCKET: 'no-such-bucket-9b-check' }));
    expect(message).toMatch(/^S3 bucket "no-such-bucket-9b-check" does not exist at http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('a wrong secret key', async () => {
    const bucket = await createTestBucket('fail-early');
    const message = await startFails(await s3Env({ S3_BUCKET: bucket, S3_SECRET_KEY: 'wrong-secret' }));
    expect(message).toContain(`S3 refused access to bucket "${bucket}"`);
    expect(message).toMatch(/HTTP 403.*wrong access key or secret key/);
  });

  it('a closed port', async () => {
    const port = await freePort();
    const message = await startFails(await s3Env({ S3_BUCKET: 'any-bucket', S3_ENDPOINT: `http://127.0.0.1:${port}` }));
    expect(message).toBe(`S3 endpoint http://127.0.0.1:${port} is unreachable (ECONNREFUSED): check storage.s3.endpoint`);
  });

  it('no credentials at all', async () => {
    const env = await s3Env({ S3_BUCKET: 'any-bucket' });
    const message = await startFails({ ...env, S3_ACCESS_KEY: '', S3_SECRET_KEY: '' });
    expect(message).toMatch(/^no S3 credentials for bucket "any-bucket"/);
  });

  it('the process prints that one line on stderr and exits 1', async () => {
    const env = { ...process.env, ...(await s3Env({ S3_BUCKET: 'no-such-bucket-9b-check' })), HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', SIGNING_SECRET: 'fail-early-signing-secret-0123456789' };
    // --no-warnings: the AWS SDK's notice about Node 20 is not ours to test here (Node 24 removes it).
    const child = await run(process.execPath, ['--no-warnings', '--import', 'tsx', 'server/index.ts'], { env, timeout: 30_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(child.code).toBe(1);
    expect(child.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^upload-gateway: start-up failed: S3 bucket "no-such-bucket-9b-check" does not exist at /)]);
  });
});

describe('creations get 503 + Retry-After while a dependency does not answer', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  it('S3 behind a TCP proxy: cut → 503 ServiceUnavailable with Retry-After; back → 201', async () => {
    const s = s3TestSettings();
    const bucket = await createTestBucket('readiness');
    const proxy = await startTcpProxy({ port: Number(new URL(s.endpoint).port) });
    cleanup.push(() => proxy.close());
    const gw = await startGateway({ env: await s3Env({ S3_BUCKET: bucket, S3_ENDPOINT: proxy.url }) });
    cleanup.push(() => gw.close());

    expect((await createUpload(gw)).status).toBe(201);

    const closed = await freePort();
    proxy.setTarget(closed);
    proxy.cutAll();
    const ready = await fetch(`${gw.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');
    const refused = await createUpload(gw);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('ServiceUnavailable');
    expect(body.error.message).toContain('store');
    expect(body.error.message).toContain('unreachable');

    proxy.setTarget(Number(new URL(s.endpoint).port));
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
    expect((await createUpload(gw)).status).toBe(201);
  });

  it('Redis stopped: one line when it goes, 503 for creations, one line when it is back, no unhandled rejection', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-redis-'));
    const port = await freePort();
    await run('bash', [REDIS_SH, 'start', dir, String(port)]);
    cleanup.push(() => run('bash', [REDIS_SH, 'stop', dir]));
    const rejections: unknown[] = [];
    const onRejection = (err: unknown) => rejections.push(err);
    process.on('unhandledRejection', onRejection);
    cleanup.push(async () => process.off('unhandledRejection', onRejection));

    const { lines, logger } = capturingLogger();
    const gw = await startGateway({ env: { REDIS_URL: `redis://127.0.0.1:${port}` }, logger });
    cleanup.push(() => gw.close());
    expect((await createUpload(gw)).status).toBe(201);

    await run('bash', [REDIS_SH, 'stop', dir]);
    await new Promise((r) => setTimeout(r, 1500)); // reconnect attempts pile up: still one line
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(503);
    const refused = await createUpload(gw);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('ServiceUnavailable');

    await run('bash', [REDIS_SH, 'start', dir, String(port)]);
    const deadline = Date.now() + 15_000;
    while (!lines.some((l) => l.event === 'redis.up') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
    expect((await createUpload(gw)).status).toBe(201);

    expect(lines.filter((l) => l.event === 'redis.down')).toHaveLength(1);
    expect(lines.filter((l) => l.event === 'redis.up')).toHaveLength(1);
    expect(String(lines.find((l) => l.event === 'redis.down')!.msg)).toMatch(/^redis redis:\/\/127\.0\.0\.1:\d+ unavailable: /);
    // Nothing logged a stack trace for Redis, and nothing was left unhandled.
    expect(lines.filter((l) => JSON.stringify(l).includes('    at '))).toEqual([]);
    expect(rejections).toEqual([]);
  }, 60_000);
});
