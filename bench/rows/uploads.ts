/**
 * Upload rows, gateway (file datastore + localfs, sha256 of every byte, flushed before the
 * offset is answered) vs a bare @tus/server + @tus/file-store (neither): one big PATCH (with
 * the idle and peak RSS of the same fresh processes), the same bytes in PATCHes of
 * `--chunk`, `--clients` uploads at once, and small uploads one after another. The big uploads
 * run twice on each side, ABBA (lib/row.ts), each on fresh processes; a side's rate is over its
 * two runs, its RSS the higher of its two. Beside the one-PATCH row, the disk alone (lib/disk.ts)
 * before and after its runs: the gateway owes the flush, the bare server does not.
 */
import { keepAlive, KiB, MiB, upload } from '../lib/http.ts';
import { durableWriteRate } from '../lib/disk.ts';
import { memoryOf, type Proc } from '../lib/procs.ts';
import { abba, alternate, type BenchRow, median, type Sample } from '../lib/row.ts';

const MB = 2 ** 20;
const SMALL = 64 * KiB;
const mibps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Starts `start()`, runs `fn` on it, stops it. */
async function withProc<T>(start: () => Promise<Proc>, fn: (p: Proc) => Promise<T>): Promise<T> {
  const proc = await start();
  try {
    return await fn(proc);
  } finally {
    await proc.stop();
  }
}

const singlePatch: BenchRow = {
  id: 'upload-single',
  metrics: [
    // The floor is for every run; the target, 1.0, is what PASS says.
    { id: 'single', title: 'one PATCH of --size, MiB/s', unit: 'MiB/s', target: 'ratio ≥ 1.0 (floor 0.9)', met: (_v, r) => r >= 1.0 },
    { id: 'idle-rss', title: 'idle RSS, MiB', unit: 'MiB', target: '≤ 80 MiB', met: (v) => v <= 80 },
    { id: 'peak-rss', title: 'peak RSS during the big upload, MiB', unit: 'MiB', target: '< 200 MiB', met: (v) => v < 200 },
  ],
  async rep(ctx, rep) {
    const { size } = ctx.options;
    const one = (start: () => Promise<Proc>) =>
      withProc(start, async (p) => {
        await new Promise((r) => setTimeout(r, 500)); // settle after start-up
        const idle = (await memoryOf(p.pid)).now;
        const ms = await upload(p.url, size, `single-${rep}.bin`);
        return { ms, idle: idle / MB, peak: (await memoryOf(p.pid)).peak / MB };
      });
    // The disk alone before and after (lib/disk.ts): the rate the gateway's flushes are bound by.
    const diskDir = await ctx.tempDir();
    const diskBefore = await durableWriteRate(diskDir, size);
    const r = await abba(rep, () => one(() => ctx.gateway()), () => one(() => ctx.bareTus()));
    const diskAfter = await durableWriteRate(diskDir, size);
    const rate = (runs: { ms: number }[]) => mibps(runs.length * size, sum(runs.map((x) => x.ms)));
    const [gateway, bare] = [rate(r.gateway), rate(r.baseline)];
    const disk = (diskBefore + diskAfter) / 2;
    ctx.note(
      `disk alone, durable (O_DIRECT 1 MiB writes, fdatasync every 64 MiB): ${diskBefore.toFixed(0)} before, ${diskAfter.toFixed(0)} after, MiB/s;` +
        ` gateway ${gateway.toFixed(0)} (${((gateway / disk) * 100).toFixed(0)} % of it), bare ${bare.toFixed(0)} (never flushes)`,
    );
    const most = (runs: { idle: number; peak: number }[], k: 'idle' | 'peak') => Math.max(...runs.map((x) => x[k]));
    return {
      single: { value: gateway, baseline: bare },
      'idle-rss': { value: most(r.gateway, 'idle'), baseline: most(r.baseline, 'idle') },
      'peak-rss': { value: most(r.gateway, 'peak'), baseline: most(r.baseline, 'peak') },
    };
  },
};

const chunked: BenchRow = {
  id: 'upload-chunked',
  metrics: [{ id: 'chunked', title: '--size in PATCHes of --chunk, MiB/s', unit: 'MiB/s', target: 'ratio ≥ 0.9', met: (_v, r) => r >= 0.9 }],
  async rep(ctx, rep) {
    const { size, chunk } = ctx.options;
    const one = (start: () => Promise<Proc>) =>
      withProc(start, async (p) => {
        const agent = keepAlive();
        try {
          return await upload(p.url, size, `chunked-${rep}.bin`, chunk, agent);
        } finally {
          agent.destroy();
        }
      });
    const r = await abba(rep, () => one(() => ctx.gateway()), () => one(() => ctx.bareTus()));
    return { chunked: { value: mibps(2 * size, sum(r.gateway)), baseline: mibps(2 * size, sum(r.baseline)) } };
  },
};

const concurrent: BenchRow = {
  id: 'upload-concurrent',
  metrics: [
    { id: 'concurrent', title: '--clients uploads at once (--size in all), aggregate MiB/s', unit: 'MiB/s', target: 'ratio ≥ 0.9', met: (_v, r) => r >= 0.9 },
    { id: 'concurrent-p50', title: '--clients uploads at once, p50 duration, ms', unit: 'ms', target: 'ratio ≤ 1.2', met: (_v, r) => r <= 1.2 },
  ],
  async rep(ctx, rep) {
    const { size, clients } = ctx.options;
    const each = Math.max(1, Math.floor(size / clients));
    const one = (start: () => Promise<Proc>) =>
      withProc(start, async (p) => {
        const started = performance.now();
        const durations = await Promise.all(Array.from({ length: clients }, (_, i) => upload(p.url, each, `concurrent-${rep}-${i}.bin`)));
        return { ms: performance.now() - started, durations };
      });
    const r = await abba(rep, () => one(() => ctx.gateway()), () => one(() => ctx.bareTus()));
    const rate = (runs: { ms: number }[]) => mibps(runs.length * each * clients, sum(runs.map((x) => x.ms)));
    const p50 = (runs: { durations: number[] }[]) => median(runs.flatMap((x) => x.durations));
    return {
      concurrent: { value: rate(r.gateway), baseline: rate(r.baseline) },
      'concurrent-p50': { value: p50(r.gateway), baseline: p50(r.baseline) },
    };
  },
};

const small: BenchRow = {
  id: 'upload-small',
  metrics: [{ id: 'small', title: 'small uploads (POST + PATCH of 64 KiB), uploads/s', unit: '/s', target: 'ratio ≥ 0.5', met: (_v, r) => r >= 0.5 }],
  async rep(ctx, rep) {
    const { count } = ctx.options;
    const one = (start: () => Promise<Proc>) =>
      withProc(start, async (p) => {
        const agent = keepAlive();
        try {
          await upload(p.url, SMALL, `warm-${rep}.bin`, SMALL, agent);
          const started = performance.now();
          for (let i = 0; i < count; i++) await upload(p.url, SMALL, `small-${rep}-${i}.bin`, SMALL, agent);
          return count / ((performance.now() - started) / 1000);
        } finally {
          agent.destroy();
        }
      });
    const r = await alternate(rep, () => one(() => ctx.gateway()), () => one(() => ctx.bareTus()));
    return { small: { value: r.gateway, baseline: r.baseline } satisfies Sample };
  },
};

export const rows: BenchRow[] = [singlePatch, chunked, concurrent, small];

