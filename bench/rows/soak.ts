/**
 * Soak: `--clients` clients uploading without a pause for `--soak` seconds (each upload 16 MiB
 * in PATCHes of `--chunk`), and the peak RSS of the server over it. Target < 200 MiB.
 */
import { keepAlive, MiB, send, uploadAt } from '../lib/http.ts';
import { memoryOf, type Proc } from '../lib/procs.ts';
import { alternate, type BenchRow } from '../lib/row.ts';

const EACH = 16 * MiB;

/** What is removed after each upload, so a long soak does not fill the disk: the object (gateway) or the upload (bare, tus termination). */
type Remove = (proc: Proc, uploadUrl: string, name: string) => Promise<unknown>;
const removeObject: Remove = (p, _url, name) => send(`${p.url}/api/objects/models/bench/${name}`, 'DELETE', {});
const terminate: Remove = (_p, url) => send(url, 'DELETE', { 'Tus-Resumable': '1.0.0' });

async function soak(proc: Proc, remove: Remove, clients: number, seconds: number, chunk: number, rep: number): Promise<{ peak: number; uploads: number }> {
  const until = performance.now() + seconds * 1000;
  let uploads = 0;
  const agent = keepAlive();
  try {
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = 0; performance.now() < until; i++) {
          const name = `soak-${rep}-${c}-${i}.bin`;
          const { url } = await uploadAt(proc.url, EACH, name, chunk, agent);
          uploads++;
          await remove(proc, url, name);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return { peak: (await memoryOf(proc.pid)).peak / MiB, uploads };
}

const soakRow: BenchRow = {
  id: 'soak',
  metrics: [{ id: 'soak-rss', title: 'peak RSS over the soak (--clients, --soak s), MiB', unit: 'MiB', target: '< 200 MiB', met: (v) => v < 200 }],
  async rep(ctx, rep) {
    const { clients, soakSeconds, chunk } = ctx.options;
    const one = async (start: () => Promise<Proc>, remove: Remove) => {
      const proc = await start();
      try {
        return await soak(proc, remove, clients, soakSeconds, chunk, rep);
      } finally {
        await proc.stop();
      }
    };
    const r = await alternate(rep, () => one(() => ctx.gateway(), removeObject), () => one(() => ctx.bareTus(), terminate));
    ctx.note(`soak: ${r.gateway.uploads} gateway and ${r.baseline.uploads} bare uploads of 16 MiB in ${soakSeconds} s`);
    return { 'soak-rss': { value: r.gateway.peak, baseline: r.baseline.peak } };
  },
};

export const rows: BenchRow[] = [soakRow];
