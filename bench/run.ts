/**
 * `npm run bench`: every row of the performance table (issue 10) as gateway ÷ baseline in the
 * same run, per rep, with the spread (min / median / max) — see bench/rows/ for what each row
 * does and what its baseline is. The gateway runs from the compiled build (dist/), as `npm start`
 * runs it. The bench is not a test and never runs in `npm test` (test/bench/ runs this harness
 * with tiny sizes only, to check it works).
 *
 *   npm run bench -- [--size 1GiB] [--reps 3] [--chunk 8MiB] [--clients 16] [--soak 30]
 *                    [--count 200] [--only upload-single,downloads] [--gateway dist|source] [--json FILE]
 *
 * Rows: every file in bench/rows/ exporting `rows: BenchRow[]` (bench/lib/row.ts) is loaded, so a
 * row is added by adding a file. Data lives under os.tmpdir() and is removed as it goes.
 * Prints PASS/FAIL against the targets and exits 0 either way (1 only when the harness fails).
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GiB, MiB } from './lib/http.ts';
import { startBareFiles, startBareTus, startGateway } from './lib/procs.ts';
import { type BenchContext, type BenchOptions, type BenchRow, median, type Sample } from './lib/row.ts';

function bytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text} (e.g. 256MiB, 1GiB)`);
  const unit = { b: 1, kib: 1024, mib: MiB, gib: GiB }[(m[2] ?? 'b').toLowerCase() as 'b']!;
  return Math.round(Number(m[1]) * unit);
}

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`--${name} must be a positive integer, not ${text}`);
  return n;
}

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '1GiB' },
    reps: { type: 'string', default: '3' },
    chunk: { type: 'string', default: '8MiB' },
    clients: { type: 'string', default: '16' },
    soak: { type: 'string', default: '30' },
    count: { type: 'string', default: '200' },
    only: { type: 'string' },
    gateway: { type: 'string', default: 'dist' },
    json: { type: 'string' },
  },
});
if (args.gateway !== 'dist' && args.gateway !== 'source') throw new Error('--gateway is dist or source');
const options: BenchOptions = {
  size: bytes(args.size),
  reps: positive('reps', args.reps),
  chunk: bytes(args.chunk),
  clients: positive('clients', args.clients),
  soakSeconds: positive('soak', args.soak),
  count: positive('count', args.count),
  gateway: args.gateway,
};

/** The rows of bench/rows/, the table order first, then any other file's in name order. */
async function loadRows(): Promise<BenchRow[]> {
  const order = ['uploads.ts', 'downloads.ts', 'soak.ts', 'finalize.ts'];
  const files = (await readdir(join(import.meta.dirname, 'rows'))).filter((f) => f.endsWith('.ts'));
  files.sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99) || a.localeCompare(b));
  const rows: BenchRow[] = [];
  for (const file of files) rows.push(...((await import(`./rows/${file}`)) as { rows: BenchRow[] }).rows);
  const only = args.only?.split(',');
  return only ? rows.filter((r) => only.includes(r.id)) : rows;
}

const fmt = (n: number) => (Number.isNaN(n) ? '—' : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const spread = (xs: number[]) => `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'gw-bench-'));
  const rows = await loadRows();
  const samples = new Map<string, Sample[]>();
  const ctx: BenchContext = {
    options,
    tempDir: () => mkdtemp(join(root, 'data-')),
    gateway: (extra = {}) => startGateway(root, { from: options.gateway, ...extra }),
    bareTus: () => startBareTus(root),
    bareFiles: (directory) => startBareFiles(root, directory),
    note: (line) => console.log(`    ${line}`),
  };
  const load = loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`upload-gateway benchmark: node ${process.version}, ${cpus().length} cores, ${(totalmem() / GiB).toFixed(0)} GiB RAM, load ${load}`);
  console.log(`  --size ${fmt(options.size / MiB)} MiB, --reps ${options.reps}, --chunk ${fmt(options.chunk / MiB)} MiB, --clients ${options.clients}, --soak ${options.soakSeconds} s, --count ${options.count}, gateway from ${options.gateway}`);
  const unavailable = rows.filter((r) => r.unavailable?.(options)).map((r) => `${r.id}: ${r.unavailable!(options)}`);
  const runnable = rows.filter((r) => !r.unavailable?.(options));
  try {
    for (let rep = 0; rep < options.reps; rep++) {
      for (const row of runnable) {
        const got = await row.rep(ctx, rep);
        for (const m of row.metrics) {
          const s = got[m.id];
          if (!s) throw new Error(`row ${row.id} returned no sample for ${m.id}`);
          samples.set(m.id, [...(samples.get(m.id) ?? []), s]);
          console.log(`  rep ${rep + 1} ${m.id.padEnd(16)} gateway ${fmt(s.value).padStart(7)} ${m.unit.padEnd(5)} baseline ${fmt(s.baseline).padStart(7)}   ratio ${fmt(s.value / s.baseline)}`);
        }
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }

  const report = [];
  console.log(`\nmedian (min–max) over ${options.reps} rep(s); ratio = gateway ÷ baseline, per rep:`);
  for (const row of runnable) {
    for (const m of row.metrics) {
      const s = samples.get(m.id)!;
      const values = s.map((x) => x.value);
      const baselines = s.map((x) => x.baseline);
      const ratios = s.map((x) => x.value / x.baseline);
      const met = m.met(median(values), median(ratios));
      report.push({ row: row.id, id: m.id, title: m.title, unit: m.unit, target: m.target, values, baselines, ratios, met });
      console.log(`  ${m.title}`);
      console.log(`      gateway ${spread(values)}  baseline ${spread(baselines)}  ratio ${spread(ratios)}   target ${m.target}: ${met ? 'PASS' : 'FAIL'}`);
    }
  }
  if (!args.only && !rows.some((r) => r.id === 's3')) unavailable.push('s3: the s3 datastore + s3 Store row is not in this tree (a file in bench/rows/ adds it)');
  for (const line of unavailable) console.log(`  not run — ${line}`);
  console.log(`(load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}: figures from a shared machine move ±10–20% between runs)`);
  if (args.json) await writeFile(args.json, JSON.stringify({ options, metrics: report, unavailable }, null, 2));
}

await main().catch((err: Error) => {
  console.error(`bench failed: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
process.exit(process.exitCode ?? 0);
