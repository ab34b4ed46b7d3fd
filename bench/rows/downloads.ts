/**
 * Download rows: the gateway (GET /api/objects/{key} from the localfs Store: sidecar checked,
 * ETag, Repr-Digest, a request log line) vs node:http + fs.createReadStream of the same bytes
 * (bench/bare-files.ts), both files read once first (in the page cache). The whole object twice
 * from each (ABBA: lib/row.ts), then `--count` 1 MiB ranges at the same pseudo-random
 * offsets, interleaved between the two (ranges(), below).
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BLOCK, download, keepAlive, MiB, upload } from '../lib/http.ts';
import type { Proc } from '../lib/procs.ts';
import { abba, type BenchRow, median } from '../lib/row.ts';

const RANGE = MiB;
const WARM_UP = 5;

/**
 * The bytes `upload` sends for `size`, written to `path` and flushed: the gateway's copy is on
 * disk before its PATCH is answered, and an unflushed baseline file would be written back
 * (dirty_expire: 30 s) in the middle of whichever side's measurement comes then.
 */
async function writeSame(path: string, size: number): Promise<void> {
  const out = createWriteStream(path, { flush: true });
  for (let left = size; left > 0; left -= BLOCK.length) {
    if (!out.write(left >= BLOCK.length ? BLOCK : BLOCK.subarray(0, left))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/**
 * Reads `path` once, so that both downloads start with the whole file in the page cache. The
 * gateway writes whole slabs with O_DIRECT, so its object is not cached after the upload while
 * the baseline's file, written through the page cache, is. Starting both cold instead (`dd
 * iflag=nocache count=0`) measured this VM's disk, not the servers: 270–844 MiB/s for the same
 * server, whichever side read first being the faster, ratios 0.63–3.10 in one run.
 */
async function warm(path: string): Promise<void> {
  await promisify(execFile)('dd', [`if=${path}`, 'of=/dev/null', 'bs=1M', 'status=none']);
}

/** The same offsets for both sides: a small LCG over whole MiB. */
function offsets(count: number, size: number): number[] {
  const slots = Math.max(1, Math.floor((size - RANGE) / MiB) + 1);
  let x = 12345;
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return (x % slots) * MiB;
  });
}

/**
 * `count` 1 MiB ranges from each side, interleaved: for each offset one request to each, the
 * order flipping with every offset, each side on its own keep-alive connection; the p50 of each.
 * Interleaved because both sides then see the same moments of a noisy machine: in blocks (200 to
 * one side, then 200 to the other) a rep measured the machine's drift between the two blocks as
 * much as the servers: p50 ratios 1.12–1.48 in one run's five reps, on a machine where the same
 * build measured 0.88–1.12 in nine blocks of 200–1,000 ranges, run when the machine was quiet.
 */
async function ranges(urls: { gateway: string; baseline: string }, size: number, count: number): Promise<{ gateway: number; baseline: number }> {
  const sides = [
    { url: urls.gateway, agent: keepAlive(), latencies: [] as number[] },
    { url: urls.baseline, agent: keepAlive(), latencies: [] as number[] },
  ];
  try {
    for (const [i, start] of offsets(WARM_UP + count, size).entries()) {
      const end = Math.min(start + RANGE, size) - 1;
      for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
        const took = await download(side.url, end - start + 1, { start, end }, side.agent);
        if (i >= WARM_UP) side.latencies.push(took);
      }
    }
    return { gateway: median(sides[0]!.latencies), baseline: median(sides[1]!.latencies) };
  } finally {
    for (const side of sides) side.agent.destroy();
  }
}

const downloads: BenchRow = {
  id: 'downloads',
  metrics: [
    { id: 'download', title: 'download of --size, MiB/s', unit: 'MiB/s', target: 'ratio ≥ 0.95', met: (_v, r) => r >= 0.95 },
    { id: 'range-p50', title: '1 MiB range GET, p50 latency, ms', unit: 'ms', target: 'ratio ≤ 1.2', met: (_v, r) => r <= 1.2 },
  ],
  unavailable: (o) => (o.size < RANGE ? `--size must be at least 1 MiB for the range row` : undefined),
  async rep(ctx, rep) {
    const { size, count } = ctx.options;
    const name = `download-${rep}.bin`;
    let gateway: Proc | undefined;
    let bare: Proc | undefined;
    try {
      gateway = await ctx.gateway();
      await upload(gateway.url, size, name);
      const files = await ctx.tempDir();
      await writeSame(join(files, name), size);
      await warm(join(gateway.dir, 'storage/models/bench', name));
      await warm(join(files, name));
      bare = await ctx.bareFiles(files);
      const urls = { gateway: `${gateway.url}/api/objects/models/bench/${name}`, baseline: `${bare.url}/${name}` };
      // The whole object twice from each, ABBA (row.ts); each side's rate over its two downloads.
      const whole = await abba(rep, () => download(urls.gateway, size), () => download(urls.baseline, size));
      const rate = (ms: number[]) => (ms.length * size) / MiB / (ms.reduce((a, b) => a + b) / 1000);
      const p50 = await ranges(urls, size, count);
      return {
        download: { value: rate(whole.gateway), baseline: rate(whole.baseline) },
        'range-p50': { value: p50.gateway, baseline: p50.baseline },
      };
    } finally {
      await gateway?.stop();
      await bare?.stop();
    }
  },
};

export const rows: BenchRow[] = [downloads];
