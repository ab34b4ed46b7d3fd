/**
 * The benchmark harness (bench/run.ts) with tiny sizes: not a measurement — the figures of a
 * 2 MiB run mean nothing — but a check that `npm run bench` still runs every row against its
 * baseline and prints a numeric ratio for each.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { s3GatewayEnv } from '../support/services.ts';

const ROOT = join(import.meta.dirname, '../..');
let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Reported {
  id: string;
  title: string;
  values: number[];
  baselines: number[];
  ratios: number[];
}

describe('npm run bench, with tiny sizes', () => {
  it('runs every row against its baseline and prints each with a numeric ratio and a verdict', async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-harness-'));
    const json = join(dir, 'bench.json');
    const args = ['bench/run.ts', '--size', '2MiB', '--reps', '1', '--chunk', '1MiB', '--clients', '2', '--soak', '1', '--count', '3', '--gateway', 'source', '--json', json];
    const { stdout } = await promisify(execFile)(process.execPath, args, {
      cwd: ROOT,
      timeout: 580_000,
      maxBuffer: 16 * 2 ** 20,
      // The s3 row on the test's own RGW, tiny too.
      env: { ...process.env, ...s3GatewayEnv(), BENCH_S3_BYTES: String(2 * 2 ** 20), BENCH_S3_REPS: '1' },
    });
    const report = JSON.parse(await readFile(json, 'utf8')) as { metrics: Reported[] };
    // The table: every row, each against its baseline.
    const expected = ['single', 'idle-rss', 'peak-rss', 'chunked', 'concurrent', 'concurrent-p50', 'small', 'download', 'range-p50', 'soak-rss', 'finalize', 's3'];
    expect(report.metrics.map((m) => m.id)).toEqual(expected);
    for (const m of report.metrics) {
      expect(m.values.length, m.id).toBe(1);
      for (const n of [...m.values, ...m.baselines, ...m.ratios]) expect(Number.isFinite(n) && n > 0, `${m.id}: ${n}`).toBe(true);
      expect(m.ratios[0]).toBeCloseTo(m.values[0]! / m.baselines[0]!, 6);
      // Printed: the title, then the spread and ratio with a verdict.
      const at = stdout.indexOf(`  ${m.title}\n`);
      expect(at, `${m.title} printed`).toBeGreaterThan(-1);
      const line = stdout.slice(at).split('\n')[1]!;
      expect(line).toMatch(/gateway [\d.]+ \([\d.]+–[\d.]+\) {2}baseline [\d.]+ \([\d.]+–[\d.]+\) {2}ratio [\d.]+ \([\d.]+–[\d.]+\) {3}target .+: (PASS|FAIL)$/);
    }
    // The s3 row's slot is reported when its file is absent, and printed when present.
    expect(stdout).toMatch(/not run — s3: |s3 datastore/);
  }, 600_000);
});
