/**
 * Download rows: the gateway (GET /api/objects/{key} from the localfs Store: sidecar checked,
 * ETag, Repr-Digest, a request log line) vs node:http + fs.createReadStream of the same bytes
 * (bench/bare-files.ts), both files read once first (in the page cache). The whole object once, then `--count` 1 MiB ranges at the same
 * pseudo-random offsets on both, one after another on a keep-alive connection.
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BLOCK, download, keepAlive, MiB, upload } from '../lib/http.ts';
import type { Proc } from '../lib/procs.ts';
import { alternate, type BenchRow, median } from '../lib/row.ts';

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

async function measure(url: string, size: number, count: number): Promise<{ rate: number; p50: number }> {
  const ms = await download(url, size);
  const agent = keepAlive();
  try {
    const at = offsets(WARM_UP + count, size);
    const latencies: number[] = [];
    for (const [i, start] of at.entries()) {
      const end = Math.min(start + RANGE, size) - 1;
      const took = await download(url, end - start + 1, { start, end }, agent);
      if (i >= WARM_UP) latencies.push(took);
    }
    return { rate: size / MiB / (ms / 1000), p50: median(latencies) };
  } finally {
    agent.destroy();
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
      const { url: g } = gateway;
      const { url: b } = bare;
      const r = await alternate(rep, () => measure(`${g}/api/objects/models/bench/${name}`, size, count), () => measure(`${b}/${name}`, size, count));
      return {
        download: { value: r.gateway.rate, baseline: r.baseline.rate },
        'range-p50': { value: r.gateway.p50, baseline: r.baseline.p50 },
      };
    } finally {
      await gateway?.stop();
      await bare?.stop();
    }
  },
};

export const rows: BenchRow[] = [downloads];
