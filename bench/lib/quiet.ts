import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Idle and total jiffies of all CPUs (/proc/stat's first line). */
async function cpuTimes(): Promise<{ idle: number; total: number }> {
  const fields = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are the machine waiting.
  return { idle: fields[3]! + (fields[4] ?? 0), total: fields.slice(0, 8).reduce((a, b) => a + b, 0) };
}

/**
 * Waits until the machine is quiet: a 250 ms window with at least 90 % of the CPUs idle, or
 * `maxMs` at most. Between the two sides of a row whose server outlives them (the S3 server of
 * the s3 row), so that one side's aftermath (RGW finishing a completed multipart upload, the
 * gateway's removal of its tus copy) is not measured in the other's time. Without it, in runs
 * 13–18, lib-storage ran at 204–219 MiB/s when it went first and at 168–205 when it went second,
 * right after the gateway; the gateway at 130–165 either way.
 */
export async function quiet(maxMs = 10_000): Promise<void> {
  const until = Date.now() + maxMs;
  while (Date.now() < until) {
    const a = await cpuTimes();
    await sleep(250);
    const b = await cpuTimes();
    if (b.total > a.total && (b.idle - a.idle) / (b.total - a.total) >= 0.9) return;
  }
}
