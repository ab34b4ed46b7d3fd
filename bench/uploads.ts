/**
 * `npm run bench:uploads`: the gateway's upload rows against a bare @tus/server +
 * @tus/file-store (bench/bare-server.ts), both child processes, runs interleaved, in one run:
 *
 * - one PATCH of BENCH_BIG_BYTES (1 GiB), throughput ratio (target ≥ 1.0, floor 0.9);
 * - the same bytes in 8 MiB PATCHes (target ≥ 0.9);
 * - 16 concurrent uploads of BIG/16 each: aggregate throughput ratio (≥ 0.9) and p50 latency (≤ 1.2×);
 * - small uploads (POST + PATCH of 64 KiB, one after another): uploads per second (≥ 0.5; bare fsyncs nothing).
 *
 * Each row prints every rep's ratio (the spread) and the median. The gateway is the real
 * server/index.ts (file datastore + localfs Store); BENCH_GATEWAY_ROOT runs another checkout's
 * server (the "before" of a change). Data lives under os.tmpdir() and is removed afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MiB = 2 ** 20;
const ROOT = join(import.meta.dirname, '..');
const GATEWAY_ROOT = process.env.BENCH_GATEWAY_ROOT ?? ROOT;
const BLOCK = randomBytes(4 * MiB);
const REPS = Number(process.env.BENCH_ROUNDS ?? 3);
const BIG = Number(process.env.BENCH_BIG_BYTES ?? 2 ** 30);
const SMALL_COUNT = Number(process.env.BENCH_SMALL_COUNT ?? 200);
const ONLY = process.env.BENCH_ROWS?.split(',');

type Kind = 'gateway' | 'bare';

async function startChild(kind: Kind, dir: string): Promise<{ url: string; stop: () => Promise<void>; proc: ChildProcess }> {
  let args: string[];
  let env: NodeJS.ProcessEnv = process.env;
  if (kind === 'gateway') {
    const overlay = join(dir, 'overlay.yaml');
    await writeFile(overlay, `tus:\n  file: { directory: ${JSON.stringify(join(dir, 'tus'))} }\nstorage:\n  localfs: { root: ${JSON.stringify(join(dir, 'storage'))} }\n`);
    args = ['--import', 'tsx', join(GATEWAY_ROOT, 'server/index.ts')];
    env = { ...env, HOST: '127.0.0.1', PORT: '0', TUS_DATASTORE: 'file', STORAGE_BACKEND: 'localfs', SIGNING_SECRET: 'bench-signing-secret-of-32-bytes-or-more', LOG_LEVEL: 'info', CONFIG_FILE: overlay };
  } else {
    args = ['--import', 'tsx', join(ROOT, 'bench/bare-server.ts'), join(dir, 'tus')];
  }
  const proc = spawn(process.execPath, [...(process.env.BENCH_CPU_PROF && kind === 'gateway' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), ...args], {
    cwd: kind === 'gateway' ? GATEWAY_ROOT : ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out = (out + d).slice(-65536)));
  proc.stderr!.on('data', (d) => (out = (out + d).slice(-65536)));
  const exited = once(proc, 'exit');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not start:\n${out}`)), 120_000);
    proc.stdout!.on('data', () => {
      const m = /"(?:event":"(?:gateway\.)?listening)","url":"([^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code) => reject(new Error(`${kind} exited with ${code}:\n${out}`)));
  });
  return { url, proc, stop: async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(process.env.BENCH_CPU_PROF ? 'SIGINT' : 'SIGKILL');
    await exited;
  } };
}

function call(url: string, method: string, headers: Record<string, string | number>, size = 0): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
    });
    req.on('error', reject);
    (async () => {
      for (let sent = 0; sent < size; ) {
        const n = Math.min(BLOCK.length, size - sent);
        sent += n;
        if (!req.write(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n))) await once(req, 'drain');
      }
      req.end();
    })().catch(reject);
  });
}

let seq = 0;
/** POST, then PATCHes of `chunk` bytes until `size`; ms from the POST's answer to the last PATCH's. */
async function upload(base: string, size: number, chunk = size): Promise<number> {
  const meta = `filename ${Buffer.from(`b-${process.pid}-${seq++}.bin`).toString('base64')},owner ${Buffer.from('bench').toString('base64')}`;
  const created = await call(`${base}/files`, 'POST', { 'Tus-Resumable': '1.0.0', 'Upload-Length': size, 'Upload-Metadata': meta });
  if (created.status !== 201) throw new Error(`POST answered ${created.status}: ${created.body}`);
  const url = new URL(created.location!, base).toString();
  const started = performance.now();
  for (let offset = 0; offset < size || size === 0; offset += chunk) {
    const n = Math.min(chunk, size - offset);
    const headers = { 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': offset, 'Content-Length': n };
    const res = await call(url, 'PATCH', headers, n);
    if (res.status !== 204) throw new Error(`PATCH answered ${res.status}: ${res.body}`);
    if (size === 0) break;
  }
  return performance.now() - started;
}

/** CPU seconds (user + system) a process has used: less at the mercy of a busy machine than wall time. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** One measurement of a row for one server: a fresh child each time. Higher is better. */
type Measure = (base: string) => Promise<{ value: number; extra?: number }>;

const rows: { name: string; unit: string; target: string; measure: Measure; extraName?: string }[] = [
  { name: 'one-patch', unit: 'MiB/s', target: '≥ 1.0 (floor 0.9)', measure: async (b) => ({ value: BIG / MiB / ((await upload(b, BIG)) / 1000) }) },
  { name: 'patches-8MiB', unit: 'MiB/s', target: '≥ 0.9', measure: async (b) => ({ value: BIG / MiB / ((await upload(b, BIG, 8 * MiB)) / 1000) }) },
  {
    name: 'concurrent-16', unit: 'MiB/s', target: '≥ 0.9 (p50 ≤ 1.2×)', extraName: 'p50 ms',
    measure: async (b) => {
      const each = Math.floor(BIG / 16);
      const started = performance.now();
      const times = await Promise.all(Array.from({ length: 16 }, () => upload(b, each)));
      return { value: (each * 16) / MiB / ((performance.now() - started) / 1000), extra: median(times) };
    },
  },
  {
    name: 'small-64KiB', unit: 'uploads/s', target: '≥ 0.5',
    measure: async (b) => {
      const started = performance.now();
      for (let i = 0; i < SMALL_COUNT; i++) await upload(b, 64 * 1024);
      return { value: SMALL_COUNT / ((performance.now() - started) / 1000) };
    },
  },
];

async function main() {
  const root = await mkdtemp(join(tmpdir(), 'gw-bench-up-'));
  console.log(`upload rows: node ${process.version}, ${BIG / MiB} MiB, ${REPS} reps, gateway from ${GATEWAY_ROOT}`);
  try {
    for (const row of rows.filter((r) => !ONLY || ONLY.includes(r.name))) {
      const ratios: number[] = [];
      const extras: number[] = [];
      const cpus: number[] = [];
      for (let rep = 0; rep < REPS; rep++) {
        const got: Partial<Record<Kind, { value: number; extra?: number; cpu?: number }>> = {};
        for (const kind of (rep % 2 ? ['bare', 'gateway'] : ['gateway', 'bare']) as Kind[]) {
          const dir = await mkdtemp(join(root, `${kind}-`));
          const child = await startChild(kind, dir);
          try {
            const before = await cpuSeconds(child.proc.pid!);
            got[kind] = await row.measure(child.url);
            got[kind]!.cpu = (await cpuSeconds(child.proc.pid!)) - before;
          } finally {
            await child.stop();
            await rm(dir, { recursive: true, force: true });
          }
        }
        const g = got.gateway!, b = got.bare!;
        ratios.push(g.value / b.value);
        cpus.push(g.cpu! / b.cpu!);
        if (g.extra !== undefined && b.extra !== undefined) extras.push(g.extra / b.extra);
        console.log(`  ${row.name} rep ${rep + 1}: gateway ${g.value.toFixed(1)} ${row.unit}, bare ${b.value.toFixed(1)} ${row.unit}, ratio ${(g.value / b.value).toFixed(2)}` +
          `; CPU s gateway ${g.cpu!.toFixed(2)} bare ${b.cpu!.toFixed(2)}` +
          (g.extra !== undefined ? `; ${row.extraName} gateway ${g.extra.toFixed(0)} bare ${b.extra!.toFixed(0)} (${(g.extra / b.extra!).toFixed(2)}×)` : ''));
      }
      console.log(`${row.name.padEnd(14)} ratio median ${median(ratios).toFixed(2)} [${ratios.map((r) => r.toFixed(2)).join(' ')}]` +
        `, CPU ratio median ${median(cpus).toFixed(2)} [${cpus.map((r) => r.toFixed(2)).join(' ')}]` +
        (extras.length ? `, ${row.extraName} median ${median(extras).toFixed(2)}× [${extras.map((r) => r.toFixed(2)).join(' ')}]` : '') + `  target ${row.target}`);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
