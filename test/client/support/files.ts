import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestFile {
  path: string;
  name: string;
  size: number;
  sha256: string;
}

/** Random bytes (incompressible, so no layer can shortcut them) in a file named `name`. */
export async function randomFile(name: string, size: number): Promise<TestFile> {
  const dir = await mkdtemp(join(tmpdir(), 'widget-'));
  const data = randomBytes(size);
  const path = join(dir, name);
  await writeFile(path, data);
  return { path, name, size, sha256: createHash('sha256').update(data).digest('hex') };
}

/** GET the stored object and hash what comes back. */
export async function fetchObjectSha256(base: string, key: string): Promise<{ sha256: string; size: number; status: number }> {
  const res = await fetch(`${base}/api/objects/${key.split('/').map(encodeURIComponent).join('/')}`);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, size: body.length, sha256: createHash('sha256').update(body).digest('hex') };
}
