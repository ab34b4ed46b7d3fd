/**
 * deploy/nginx/nginx.conf, the load balancer of the compose scale profile, checked by the
 * real nginx (Debian's package) and then run in front of two real gateways sharing one
 * bucket and one Redis: an upload goes through it with request buffering off.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../../server/main.ts';
import { clientUpload, createUpload, metricValue, MiB, objectPath, randomData, raw, sha256Hex, uniqueName } from '../gateway/pairings.ts';
import { startGateway } from '../support/gateway.ts';
import { createTestBucket, redisUrl, s3TestSettings } from '../support/services.ts';
import { freePort } from '../support/ports.ts';

const CONF = join(import.meta.dirname, '../../deploy/nginx/nginx.conf');

/** A copy of nginx.conf in a fresh prefix, with upstreams.conf naming `servers` and `listen` on `port`. */
async function nginxPrefix(servers: string[], port?: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nginx-'));
  await chmod(dir, 0o755); // nginx's workers run as nobody when the tests run as root
  await copyFile(CONF, join(dir, 'nginx.conf'));
  if (port !== undefined) {
    const text = await readFile(CONF, 'utf8');
    expect(text).toMatch(/^\s*listen 8080;$/m);
    await writeFile(join(dir, 'nginx.conf'), text.replace(/^(\s*)listen 8080;$/m, `$1listen 127.0.0.1:${port};`));
  }
  await writeFile(join(dir, 'upstreams.conf'), `upstream gateways {\n${servers.map((s) => `  server ${s};\n`).join('')}  keepalive 8;\n}\n`);
  return dir;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('deploy/nginx/nginx.conf', () => {
  it('passes nginx -t, and streams uploads: buffering off, no body limit, long timeouts, forwarded headers', async () => {
    const dir = await nginxPrefix(['127.0.0.1:1', '127.0.0.1:2']);
    try {
      const { code, output } = await run('nginx', ['-t', '-e', 'stderr', '-p', `${dir}/`, '-c', join(dir, 'nginx.conf')]);
      expect(code, output).toBe(0);
      expect(output).toContain('test is successful');
      const text = await readFile(CONF, 'utf8');
      for (const line of ['proxy_request_buffering off;', 'proxy_buffering off;', 'client_max_body_size 0;', 'proxy_set_header X-Forwarded-Proto $scheme;']) {
        expect(text).toContain(line);
      }
      // Never replays a non-idempotent PATCH on the other gateway.
      expect(text).not.toContain('non_idempotent');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is refused by nginx -t when broken (the check can fail)', async () => {
    const dir = await nginxPrefix(['127.0.0.1:1']);
    try {
      await writeFile(join(dir, 'upstreams.conf'), 'upstream gateways { server ; }\n');
      const { code } = await run('nginx', ['-t', '-e', 'stderr', '-p', `${dir}/`, '-c', join(dir, 'nginx.conf')]);
      expect(code).not.toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('nginx from deploy/nginx/nginx.conf in front of two gateways (s3 + Redis)', () => {
  let a: RunningGateway;
  let b: RunningGateway;
  let nginx: ChildProcess;
  let dir: string;
  let lb: string;
  let nginxOut = '';

  beforeAll(async () => {
    const s3 = s3TestSettings();
    const bucket = await createTestBucket('nginx');
    const env = {
      TUS_DATASTORE: 's3', STORAGE_BACKEND: 's3', S3_ENDPOINT: s3.endpoint, S3_BUCKET: bucket,
      S3_ACCESS_KEY: s3.accessKey, S3_SECRET_KEY: s3.secretKey, S3_REGION: s3.region,
      REDIS_URL: `${redisUrl()}/11` /* a database of this file's own: see test/support/services.ts */,
    };
    a = await startGateway({ env });
    b = await startGateway({ env });
    const port = await freePort();
    dir = await nginxPrefix([new URL(a.url).host, new URL(b.url).host], port);
    nginx = spawn('nginx', ['-e', 'stderr', '-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    nginx.stdout!.on('data', (d) => (nginxOut += d));
    nginx.stderr!.on('data', (d) => (nginxOut += d));
    lb = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ok = await raw(`${lb}/healthz`).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (i > 100 || nginx.exitCode !== null) throw new Error(`nginx did not come up:\n${nginxOut}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx.once('exit', r));
      nginx.kill('SIGQUIT'); // graceful stop
      await exited;
    }
    await Promise.all([a?.close(), b?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a tus upload in several PATCHes goes through it, reaches both gateways, and is stored byte-exact', async () => {
    const data = randomData(24 * MiB);
    const filename = uniqueName('lb');
    const before = [await metricValue(a.url, 'gateway_upload_bytes_received_total'), await metricValue(b.url, 'gateway_upload_bytes_received_total')];
    const result = await clientUpload(`${lb}/files/`, data, { chunkSize: 8 * MiB, metadata: { filename, owner: 'lb' } });
    expect(result.requests).toEqual(['POST', 'PATCH', 'PATCH', 'PATCH']);
    // The upload URL names the address the client used: nginx, not a gateway.
    expect(result.url.startsWith(`${lb}/files/`), result.url).toBe(true);
    const got = [await metricValue(a.url, 'gateway_upload_bytes_received_total'), await metricValue(b.url, 'gateway_upload_bytes_received_total')];
    // Round robin: the PATCHes were spread over both instances, and every byte arrived once.
    expect(got[0]! - before[0]!).toBeGreaterThan(0);
    expect(got[1]! - before[1]!).toBeGreaterThan(0);
    expect(got[0]! - before[0]! + got[1]! - before[1]!).toBe(data.length);
    const key = `models/lb/${filename}`;
    const download = await raw(lb + objectPath(key));
    expect(download.status).toBe(200);
    expect(sha256Hex(download.body)).toBe(sha256Hex(data));
    const status = await raw(`${lb}/api/uploads/${result.id}`);
    expect(status.json).toMatchObject({ status: 'done', offset: data.length, key });
  });

  it('passes a PATCH body on as it arrives (request buffering off): the offset advances before the body ends', async () => {
    const data = randomData(10 * MiB);
    const filename = uniqueName('stream');
    const { url } = await createUpload(lb, { length: data.length, metadata: { filename, owner: 'lb' } });
    expect(url.startsWith(lb)).toBe(true);
    const id = url.slice(url.lastIndexOf('/') + 1);
    const req = httpRequest(url, {
      method: 'PATCH',
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': data.length },
    });
    const answered = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
    });
    // 9 MiB of 10, then the client holds the rest: one 8 MiB part can only be stored
    // if nginx has passed the body on without waiting for its end.
    req.write(data.subarray(0, 9 * MiB));
    let offset = 0;
    for (let i = 0; i < 200 && offset < 8 * MiB; i++) {
      await new Promise((r) => setTimeout(r, 100));
      offset = (await raw(`${lb}/api/uploads/${id}`)).json.offset;
    }
    expect(offset).toBeGreaterThanOrEqual(8 * MiB);
    req.end(data.subarray(9 * MiB));
    expect(await answered).toBe(204);
    expect(sha256Hex((await raw(lb + objectPath(`models/lb/${filename}`))).body)).toBe(sha256Hex(data));
  });
});
