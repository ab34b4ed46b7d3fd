/**
 * `npm run bench`: what the gateway costs over a bare @tus/server, on local disk.
 *
 * - 1 GiB in a single PATCH, through the gateway (file datastore + localfs Store, the real
 *   `server/index.ts` in a child process) and through a bare @tus/server + @tus/file-store
 *   (bench/bare-server.ts, also a child), runs interleaved; medians and the ratio of
 *   throughputs (target ≥ 0.9).
 * - Finalize time for 64 MiB and 1 GiB uploads: the gateway's own
 *   `gateway_finalize_duration_seconds` (fresh process per run, so its sum is that run's),
 *   and the client's view, last byte sent → answer. Target: on local disk it does not grow
 *   with the size (a link and a rename, no copy).
 * - The gateway's peak RSS (VmHWM from /proc) while it takes 1 GiB (target < 200 MB).
 *
 * The client is node:http streaming one 4 MiB random block over and over: nothing holds
 * 1 GiB in memory on either side. Every gateway run checks the sha256 the gateway wrote
 * into the object's sidecar. Data lives under os.tmpdir() and is removed afterwards.
 * Prints PASS/FAIL against the targets and exits 0 either way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const ROOT = join(import.meta.dirname, '..');
const BLOCK = randomBytes(4 * MiB);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BIG = Number(process.env.BENCH_BIG_BYTES ?? GiB);
const SMALL = 64 * MiB;

const TARGET_RATIO = 0.9;
const TARGET_RSS_MB = 200;

// ---------------------------------------------------------------------------------------------
// Child processes

interface Child {
  /** 'bare+sha256': bare @tus/server that also hashes (node:crypto) and fdatasyncs, as the gateway must. */
  kind: 'gateway' | 'bare' | 'bare+sha256';
  url: string;
  proc: ChildProcess;
  dir: string;
  stop(): Promise<void>;
}

async function startChild(kind: Child['kind'], dir: string): Promise<Child> {
  let proc: ChildProcess;
  if (kind === 'gateway') {
    const overlay = join(dir, 'bench-overlay.yaml');
    await writeFile(
      overlay,
      `tus:\n  file: { directory: ${JSON.stringify(join(dir, 'tus'))} }\nstorage:\n  localfs: { root: ${JSON.stringify(join(dir, 'storage'))} }\n`,
    );
    proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/index.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: '0',
        TUS_DATASTORE: 'file',
        STORAGE_BACKEND: 'localfs',
        SIGNING_SECRET: 'bench-signing-secret-of-32-bytes-or-more',
        LOG_LEVEL: 'info',
        CONFIG_FILE: overlay,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } else {
    const args = ['--import', 'tsx', join(ROOT, 'bench/bare-server.ts'), join(dir, 'tus'), ...(kind === 'bare+sha256' ? ['--sha256'] : [])];
    proc = spawn(process.execPath, args, {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }
  let out = '';
  proc.stdout!.on('data', (d) => (out = (out + d).slice(-64 * 1024)));
  proc.stderr!.on('data', (d) => (out = (out + d).slice(-64 * 1024)));
  const exited = once(proc, 'exit');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not start:\n${out}`)), 30_000);
    const onData = () => {
      const m = /"(?:event":"(?:gateway\.)?listening)","url":"([^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${kind} exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    kind,
    url,
    proc,
    dir,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Peak and current resident set size of a process, in bytes (VmHWM, VmRSS). */
async function memoryOf(pid: number): Promise<{ peak: number; now: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
  return { peak: kb('VmHWM'), now: kb('VmRSS') };
}

// ---------------------------------------------------------------------------------------------
// The client

function send(url: string, method: string, headers: Record<string, string | number>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface UploadTiming {
  /** Request start → answer (the whole upload, finalization included), ms. */
  totalMs: number;
  /** Request start → last byte handed to the kernel, ms. */
  sendMs: number;
  /** Last byte handed to the kernel → answer, ms. */
  tailMs: number;
  objectKey?: string;
}

/** POST, then one PATCH of `size` generated bytes streamed with backpressure. */
async function upload(base: string, size: number, filename: string): Promise<UploadTiming> {
  const meta = `filename ${Buffer.from(filename).toString('base64')},owner ${Buffer.from('bench').toString('base64')}`;
  const created = await send(`${base}/files`, 'POST', { 'Tus-Resumable': '1.0.0', 'Upload-Length': size, 'Upload-Metadata': meta });
  if (created.status !== 201) throw new Error(`POST answered ${created.status}: ${created.body}`);
  const uploadUrl = new URL(String(created.headers.location), base).toString();

  const started = performance.now();
  let lastByte = 0;
  const answer = new Promise<{ status: number; key?: string; body: string; at: number }>((resolve, reject) => {
    const req = request(
      uploadUrl,
      {
        method: 'PATCH',
        agent: false,
        headers: { 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': 0, 'Content-Length': size },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, key: res.headers['object-key'] as string | undefined, body, at: performance.now() }));
      },
    );
    req.on('error', reject);
    (async () => {
      let sent = 0;
      while (sent < size) {
        const n = Math.min(BLOCK.length, size - sent);
        sent += n;
        if (!req.write(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n))) await once(req, 'drain');
      }
      await new Promise<void>((r) => req.end(() => r()));
      lastByte = performance.now();
    })().catch(reject);
  });
  const res = await answer;
  if (res.status !== 204) throw new Error(`PATCH answered ${res.status}: ${res.body}`);
  return { totalMs: res.at - started, sendMs: lastByte - started, tailMs: res.at - lastByte, objectKey: res.key };
}

/** sha256 of what `upload` sends for `size` bytes. */
function expectedSha256(size: number): string {
  const h = createHash('sha256');
  for (let sent = 0; sent < size; sent += BLOCK.length) h.update(BLOCK.subarray(0, Math.min(BLOCK.length, size - sent)));
  return h.digest('hex');
}

async function finalizeSecondsFromMetrics(base: string): Promise<number | undefined> {
  const res = await send(`${base}/metrics`, 'GET', {});
  const m = /^gateway_finalize_duration_seconds_sum(?:\{[^}]*\})? (\S+)$/m.exec(res.body);
  return m ? Number(m[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------

interface Run {
  kind: Child['kind'];
  size: number;
  timing: UploadTiming;
  finalizeMs?: number;
  peakRss: number;
  idleRss: number;
  shaOk?: boolean;
}

const expectedSha = new Map<number, string>();

async function oneRun(root: string, kind: Child['kind'], size: number, label: string): Promise<Run> {
  const dir = await mkdtemp(join(root, `${kind}-`));
  const child = await startChild(kind, dir);
  try {
    const idleRss = (await memoryOf(child.proc.pid!)).now;
    const filename = `${label}.bin`;
    const timing = await upload(child.url, size, filename);
    const { peak } = await memoryOf(child.proc.pid!);
    const run: Run = { kind, size, timing, peakRss: peak, idleRss };
    if (kind === 'gateway') {
      const seconds = await finalizeSecondsFromMetrics(child.url);
      run.finalizeMs = seconds === undefined ? undefined : seconds * 1000;
      const sidecar = JSON.parse(await readFile(join(dir, 'storage', 'models', 'bench', `${filename}.meta.json`), 'utf8')) as { size: number; metadata: { sha256?: string } };
      run.shaOk = sidecar.size === size && sidecar.metadata.sha256 === expectedSha.get(size);
    }
    return run;
  } finally {
    await child.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const mibps = (run: Run) => run.size / MiB / (run.timing.totalMs / 1000);
const fmt = (n: number | undefined, digits = 0) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(digits));
const mb = (bytes: number) => bytes / 1e6;
const pad = (s: string, n: number) => s.padStart(n);
const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');

async function main() {
  const root = await mkdtemp(join(tmpdir(), 'gw-bench-'));
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  const runs: Run[] = [];
  try {
    console.log(`upload-gateway benchmark: node ${process.version}, ${cpus().length} cores, ${(totalmem() / GiB).toFixed(0)} GiB RAM, data under ${root}`);
    console.log(`hashing the reference data (${fmt(BIG / MiB)} MiB and ${fmt(SMALL / MiB)} MiB) ...`);
    for (const size of [BIG, SMALL]) expectedSha.set(size, expectedSha256(size));

    const row = (r: Run, i: number) =>
      [
        pad(String(i), 3),
        pad(r.kind, 11),
        pad(fmt(r.size / MiB), 6),
        pad(fmt(r.timing.totalMs / 1000, 2), 8),
        pad(fmt(mibps(r)), 7),
        pad(fmt(r.size / MiB / (r.timing.sendMs / 1000)), 9),
        pad(fmt(r.timing.tailMs), 12),
        pad(fmt(r.finalizeMs, 1), 12),
        pad(fmt(mb(r.idleRss)), 9),
        pad(fmt(mb(r.peakRss)), 9),
        pad(r.shaOk === undefined ? '—' : r.shaOk ? 'ok' : 'WRONG', 6),
      ].join(' ');
    console.log('');
    console.log(['run', '     server', '   MiB', 'total s', '  MiB/s', 'send MiB/s', 'last→answer ms', 'finalize ms', 'idle MB', 'peak MB', 'sha256'].map((h, i) => pad(h, [3, 11, 6, 8, 7, 9, 12, 12, 9, 9, 6][i]!)).join(' '));

    // 1 GiB, interleaved; the order flips each round so neither side always goes first.
    let n = 0;
    for (let round = 0; round < ROUNDS && !interrupted; round++) {
      const order: Child['kind'][] = round % 2 === 0 ? ['gateway', 'bare', 'bare+sha256'] : ['bare+sha256', 'bare', 'gateway'];
      for (const kind of order) {
        if (interrupted) break;
        const r = await oneRun(root, kind, BIG, `big-${round}`);
        runs.push(r);
        console.log(row(r, ++n));
      }
    }
    // 64 MiB through the gateway: finalize time at a small size.
    for (let round = 0; round < ROUNDS && !interrupted; round++) {
      const r = await oneRun(root, 'gateway', SMALL, `small-${round}`);
      runs.push(r);
      console.log(row(r, ++n));
    }
  } finally {
    process.off('SIGINT', onSignal);
    await rm(root, { recursive: true, force: true });
  }

  const big = (kind: Child['kind']) => runs.filter((r) => r.kind === kind && r.size === BIG);
  const small = runs.filter((r) => r.kind === 'gateway' && r.size === SMALL);
  if (big('gateway').length === 0 || big('bare').length === 0 || small.length === 0) {
    console.log('\nnot enough runs for a summary');
    return;
  }
  const gwRate = median(big('gateway').map(mibps));
  const bareRate = median(big('bare').map(mibps));
  const ratio = gwRate / bareRate;
  const workRate = big('bare+sha256').length ? median(big('bare+sha256').map(mibps)) : NaN;
  const finBig = median(big('gateway').map((r) => r.finalizeMs ?? NaN));
  const finSmall = median(small.map((r) => r.finalizeMs ?? NaN));
  const tailBig = median(big('gateway').map((r) => r.timing.tailMs));
  const tailSmall = median(small.map((r) => r.timing.tailMs));
  const tailBare = median(big('bare').map((r) => r.timing.tailMs));
  const peak = Math.max(...runs.filter((r) => r.kind === 'gateway').map((r) => r.peakRss));
  const barePeak = Math.max(...big('bare').map((r) => r.peakRss));
  const shaOk = runs.filter((r) => r.kind === 'gateway').every((r) => r.shaOk);
  // "Does not grow with size": 16× the bytes may cost at most 2× (plus 50 ms of noise).
  const finalizeFlat = finBig <= Math.max(2 * finSmall, finSmall + 50);

  console.log('');
  console.log(`medians over ${big('gateway').length} gateway and ${big('bare').length} bare runs of ${fmt(BIG / MiB)} MiB in one PATCH (request start → answer):`);
  console.log(`  gateway ${fmt(gwRate)} MiB/s, bare @tus/server ${fmt(bareRate)} MiB/s, ratio ${fmt(ratio, 2)}   target ≥ ${TARGET_RATIO}: ${verdict(ratio >= TARGET_RATIO)}`);
  if (Number.isFinite(workRate)) {
    console.log(`  bare @tus/server + sha256 + fdatasync ${fmt(workRate)} MiB/s: bare+work/bare ${fmt(workRate / bareRate, 2)} (the price of the work), gateway/bare+work ${fmt(gwRate / workRate, 2)} (the gateway's own plumbing)`);
  }
  console.log(`  finalize (gateway_finalize_duration_seconds): ${fmt(SMALL / MiB)} MiB ${fmt(finSmall, 1)} ms, ${fmt(BIG / MiB)} MiB ${fmt(finBig, 1)} ms   target: not growing with size: ${verdict(finalizeFlat)}`);
  console.log(`  last byte sent → answer (client): ${fmt(SMALL / MiB)} MiB ${fmt(tailSmall)} ms, ${fmt(BIG / MiB)} MiB ${fmt(tailBig)} ms (bare, ${fmt(BIG / MiB)} MiB: ${fmt(tailBare)} ms)`);
  console.log(`  gateway peak RSS ${fmt(mb(peak))} MB (bare ${fmt(mb(barePeak))} MB)   target < ${TARGET_RSS_MB} MB: ${verdict(mb(peak) < TARGET_RSS_MB)}`);
  console.log(`  sha256 in every gateway object's metadata: ${shaOk ? 'right' : 'WRONG'}`);
  console.log('(2-core machine shared with other work: expect noise of ±10–20% between runs)');
  if (!interrupted && process.env.BENCH_S3 !== '0') await import('./s3.ts').then((m) => m.benchS3()); // the s3 row (bench/s3.ts)
}

await main().catch((err: Error) => {
  console.error(`bench failed: ${err.stack ?? err.message}`);
});
process.exit(0);
