/**
 * Finalization: the gateway's own `gateway_finalize_duration_seconds` for an upload of `--size`
 * vs one of 64 MiB (a fresh process each, so the sum is that upload's). On local disk a finished
 * upload becomes its object by a link and a rename, so it must not grow with the size: the
 * "baseline" here is the small upload, target ratio ≤ 2 (or within 50 ms).
 */
import { MiB, send, upload } from '../lib/http.ts';
import { alternate, type BenchRow } from '../lib/row.ts';

const SMALL = 64 * MiB;

async function finalizeMs(base: string): Promise<number> {
  const res = await send(`${base}/metrics`, 'GET', {});
  const m = /^gateway_finalize_duration_seconds_sum(?:\{[^}]*\})? (\S+)$/m.exec(res.body);
  if (!m) throw new Error('no gateway_finalize_duration_seconds_sum in /metrics');
  return Number(m[1]) * 1000;
}

const finalize: BenchRow = {
  id: 'finalize',
  metrics: [
    {
      id: 'finalize',
      title: 'finalize of --size vs of 64 MiB (gateway_finalize_duration_seconds), ms',
      unit: 'ms',
      target: 'ratio ≤ 2 or within 50 ms',
      met: (v, r) => r <= 2 || v - v / r <= 50,
    },
  ],
  async rep(ctx, rep) {
    const one = async (size: number) => {
      const gw = await ctx.gateway();
      try {
        await upload(gw.url, size, `finalize-${rep}-${size}.bin`);
        return await finalizeMs(gw.url);
      } finally {
        await gw.stop();
      }
    };
    const small = Math.min(SMALL, ctx.options.size);
    const r = await alternate(rep, () => one(ctx.options.size), () => one(small));
    return { finalize: { value: r.gateway, baseline: r.baseline } };
  },
};

export const rows: BenchRow[] = [finalize];
