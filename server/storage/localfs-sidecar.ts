import type { Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { z } from 'zod';
import { errors } from '../errors.ts';
import { READ_NOFOLLOW } from './localfs-paths.ts';
import type { ObjectInfo } from './store.ts';

/* The sidecar {key}.meta.json: the commit record every reader checks the data against (see localfs.ts). */

const sidecarSchema = z.object({
  key: z.string(),
  size: z.number().int().nonnegative(),
  contentType: z.string(),
  etag: z.string(),
  lastModified: z.string().refine((s) => !Number.isNaN(Date.parse(s))),
  metadata: z.record(z.string(), z.string()),
});
export type Sidecar = z.infer<typeof sidecarSchema>;

export const consistent = (st: Stats, s: Sidecar): boolean =>
  st.isFile() && st.size === s.size && Math.floor(st.mtimeMs) <= Date.parse(s.lastModified);

export const toInfo = (key: string, s: Sidecar): ObjectInfo => ({
  key,
  size: s.size,
  contentType: s.contentType,
  etag: s.etag,
  lastModified: new Date(s.lastModified),
  metadata: { ...s.metadata },
});

/** The sidecar and the fstat of the very descriptor it was read from (the read cache keys on it). */
export async function readSidecar(path: string, key: string): Promise<{ side: Sidecar; st: Stats }> {
  const fh = await open(path, READ_NOFOLLOW);
  let text: string;
  let st: Stats;
  try {
    st = await fh.stat();
    text = await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
  try {
    return { side: sidecarSchema.parse(JSON.parse(text)), st };
  } catch (err) {
    throw errors.internal(`corrupt metadata sidecar for ${key}`, err);
  }
}
