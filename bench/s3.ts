/**
 * The s3 row of `npm run bench` (also `npx tsx bench/s3.ts` alone): the gateway with the s3
 * datastore and the s3 Store — POST, one PATCH of BENCH_S3_BYTES (128 MiB), the answer after
 * finalization — against a direct `@aws-sdk/lib-storage` Upload of the same bytes to the same S3,
 * with the same client settings (storage/s3-client.ts) and part size (tus.partSize, 8 MiB).
 * Runs interleaved, the order flipping each rep; the ratio of the median throughputs, and each
 * rep's own ratio for the spread. Target ≥ 0.8.
 *
 * The S3: S3_ENDPOINT / S3_ACCESS_KEY / S3_SECRET_KEY / S3_REGION when set, else a throw-away
 * Ceph RGW started with test/support/rgw.sh (as the tests do) and stopped afterwards. Every
 * gateway object's `sha256` metadata is checked against the bytes sent.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createS3Client } from '../server/storage/s3-client.ts';
import { freePort } from '../test/support/ports.ts';
import { quiet } from './lib/quiet.ts';

const MiB = 2 ** 20;
const ROOT = join(import.meta.dirname, '..');
const SIZE = Number(process.env.BENCH_S3_BYTES ?? 128 * MiB);
const REPS = Number(process.env.BENCH_S3_REPS ?? process.env.BENCH_ROUNDS ?? 3);
const PART = 8 * MiB;
const TARGET = 0.8;
const BLOCK = randomBytes(4 * MiB);

interface S3Env {
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  stop: () => Promise<void>;
}

async function s3Server(): Promise<S3Env> {
  const e = process.env;
  if (e.S3_ENDPOINT) {
    return { endpoint: e.S3_ENDPOINT, region: e.S3_REGION ?? 'us-east-1', accessKey: e.S3_ACCESS_KEY ?? '', secretKey: e.S3_SECRET_KEY ?? '', stop: async () => {} };
  }
  const dir = await mkdtemp(join(tmpdir(), 'gw-bench-rgw-'));
  const script = join(ROOT, 'test/support/rgw.sh');
  const [rgw, mon] = [await freePort(), await freePort()];
  const started = spawnSync('bash', [script, 'start', dir, String(rgw), String(mon)], { stdio: ['ignore', 2, 2] });
  const stop = async () => {
    spawnSync('bash', [script, 'stop', dir], { stdio: ['ignore', 2, 2] });
    await rm(dir, { recursive: true, force: true });
  };
  if (started.status !== 0) {
    await stop();
    throw new Error('could not start a Ceph RGW (test/support/rgw.sh); set S3_ENDPOINT to use another S3');
  }
  return { endpoint: `http://127.0.0.1:${rgw}`, region: 'us-east-1', accessKey: 'testaccess', secretKey: 'testsecret', stop };
}

/** `size` bytes of BLOCK repeated, with backpressure: nothing holds the whole body. */
function body(size: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(BLOCK.length, size - sent);
      sent += n;
      this.push(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n));
    },
  });
}

function expectedSha256(size: number): string {
  const h = createHash('sha256');
  for (let sent = 0; sent < size; sent += BLOCK.length) h.update(BLOCK.subarray(0, Math.min(BLOCK.length, size - sent)));
  return h.digest('hex');
}

function send(url: string, method: string, headers: Record<string, string | number>, data?: Readable): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    if (data) data.pipe(req);
    else req.end();
  });
}

async function startGateway(s3: S3Env, bucket: string, dir: string, root: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const compiled = join(root, 'dist/server/index.js');
  const args = existsSync(compiled) ? [compiled] : ['--import', 'tsx', join(root, 'server/index.ts')];
  const proc = spawn(process.execPath, args, {
    cwd: root,
    env: {
      ...process.env,
      HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', TUS_DATASTORE: 's3', STORAGE_BACKEND: 's3',
      S3_ENDPOINT: s3.endpoint, S3_REGION: s3.region, S3_ACCESS_KEY: s3.accessKey, S3_SECRET_KEY: s3.secretKey, S3_BUCKET: bucket,
      SIGNING_SECRET: 'bench-signing-secret-of-32-bytes-or-more', UGW_TUS__FILE__DIRECTORY: join(dir, 'tus'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out = (out + d).slice(-64 * 1024)));
  proc.stderr!.on('data', (d) => (out = (out + d).slice(-64 * 1024)));
  const exited = once(proc, 'exit');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${out}`)), 60_000);
    proc.stdout!.on('data', () => {
      const m = /"(?:event":"(?:gateway\.)?listening)","url":"([^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${out}`));
    });
  });
  return {
    url,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** POST + one PATCH of `size` bytes; ms from the PATCH's start to its answer (finalization included). */
async function viaGateway(base: string, size: number, filename: string): Promise<{ ms: number; key: string }> {
  const meta = `filename ${Buffer.from(filename).toString('base64')},owner ${Buffer.from('bench').toString('base64')}`;
  const created = await send(`${base}/files`, 'POST', { 'Tus-Resumable': '1.0.0', 'Upload-Length': size, 'Upload-Metadata': meta });
  if (created.status !== 201) throw new Error(`POST answered ${created.status}: ${created.body}`);
  const t = performance.now();
  const headers = { 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': 0, 'Content-Length': size };
  const res = await send(new URL(String(created.headers.location), base).toString(), 'PATCH', headers, body(size));
  if (res.status !== 204) throw new Error(`PATCH answered ${res.status}: ${res.body}`);
  return { ms: performance.now() - t, key: decodeURIComponent(String(res.headers['object-key'])) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export interface S3BenchSession {
  endpoint: string;
  /** One rep: the gateway and lib-storage once each (the order flips with `rep`), in MiB/s; whether the object's sha256 is right. */
  rep(rep: number): Promise<{ gateway: number; baseline: number; sha256Ok: boolean }>;
  close(): Promise<void>;
}

/** The S3, a bucket and a gateway on them (the checkout at `root`: another build to compare), for reps of `size` bytes. */
export async function openS3Bench(size = SIZE, root = ROOT): Promise<S3BenchSession> {
  const s3 = await s3Server();
  const dir = await mkdtemp(join(tmpdir(), 'gw-bench-s3-'));
  const settings = { ...s3, bucket: `bench-${Date.now().toString(36)}`, forcePathStyle: true, checksums: 'when_required' as const, tusPrefix: '.tus/' };
  const client = createS3Client(settings);
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  const close = async () => {
    await gateway?.stop();
    client.destroy();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await client.send(new CreateBucketCommand({ Bucket: settings.bucket }));
    gateway = await startGateway(s3, settings.bucket, dir, root);
  } catch (err) {
    await close();
    throw err;
  }
  const want = expectedSha256(size);
  const rate = (ms: number) => size / MiB / (ms / 1000);
  return {
    endpoint: s3.endpoint,
    async rep(rep) {
      let gw = 0;
      let baseline = 0;
      let sha256Ok = false;
      const runGateway = async () => {
        const { ms, key } = await viaGateway(gateway!.url, size, `s3-${rep}.bin`);
        const head = await client.send(new HeadObjectCommand({ Bucket: settings.bucket, Key: key }));
        sha256Ok = head.ContentLength === size && head.Metadata?.sha256 === want;
        gw = rate(ms);
      };
      const runLib = async () => {
        const t = performance.now();
        await new Upload({ client, params: { Bucket: settings.bucket, Key: `direct/${rep}.bin`, Body: body(size) }, partSize: PART }).done();
        baseline = rate(performance.now() - t);
      };
      for (const run of rep % 2 === 0 ? [runGateway, runLib] : [runLib, runGateway]) {
        await quiet();
        await run();
      }
      return { gateway: gw, baseline, sha256Ok };
    },
    close,
  };
}

/** The s3 row on its own: prints each rep and the summary line. */
export async function benchS3(size = SIZE, reps = REPS): Promise<{ ratio: number; sha256Ok: boolean }> {
  const session = await openS3Bench(size);
  try {
    const gw: number[] = [];
    const lib: number[] = [];
    let sha256Ok = true;
    console.log(`s3 datastore + s3 Store vs lib-storage, ${size / MiB} MiB, ${reps} reps, S3 at ${session.endpoint}`);
    for (let rep = 0; rep < reps; rep++) {
      const r = await session.rep(rep);
      gw.push(r.gateway);
      lib.push(r.baseline);
      sha256Ok &&= r.sha256Ok;
      console.log(`  rep ${rep + 1}: gateway ${r.gateway.toFixed(1)} MiB/s, lib-storage ${r.baseline.toFixed(1)} MiB/s, ratio ${(r.gateway / r.baseline).toFixed(2)}`);
    }
    const ratio = median(gw) / median(lib);
    const perRep = gw.map((g, i) => g / lib[i]!).sort((a, b) => a - b);
    console.log(
      `  s3 ${size / MiB} MiB: gateway ${median(gw).toFixed(1)} MiB/s, lib-storage ${median(lib).toFixed(1)} MiB/s, ratio ${ratio.toFixed(2)} ` +
        `(per rep min ${perRep[0]!.toFixed(2)} / median ${median(perRep).toFixed(2)} / max ${perRep.at(-1)!.toFixed(2)})   ` +
        `target ≥ ${TARGET}: ${ratio >= TARGET ? 'PASS' : 'FAIL'}; sha256 ${sha256Ok ? 'right' : 'WRONG'}`,
    );
    return { ratio, sha256Ok };
  } finally {
    await session.close();
  }
}

if (import.meta.filename === process.argv[1]) {
  await benchS3().catch((err: Error) => console.error(`bench s3 failed: ${err.stack ?? err.message}`));
}
