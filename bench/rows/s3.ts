/** The s3 row: s3 datastore + s3 Store, 128 MiB, against a direct @aws-sdk/lib-storage upload to the same S3 (bench/s3.ts). */
import type { BenchRow } from '../lib/row.ts';
import { openS3Bench, type S3BenchSession } from '../s3.ts';

let session: Promise<S3BenchSession> | undefined;

export const rows: BenchRow[] = [
  {
    id: 's3',
    metrics: [
      { id: 's3', title: 's3 datastore + s3 Store, 128 MiB vs a direct lib-storage upload, MiB/s', unit: 'MiB/s', target: 'ratio ≥ 0.8', met: (_v, r) => r >= 0.8 },
    ],
    async rep(ctx, rep) {
      const s = await (session ??= openS3Bench());
      const r = await s.rep(rep);
      if (rep === ctx.options.reps - 1) await s.close();
      if (!r.sha256Ok) throw new Error('s3 row: the object read back has the wrong sha256');
      return { s3: { value: r.gateway, baseline: r.baseline } };
    },
  },
];
