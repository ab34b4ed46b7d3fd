/**
 * "Nothing outside `storage/` branches on the backend": callers ask the Store's capabilities
 * and rules (storage/store.ts), never which backend it is. Reads the real source tree.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && /\.(ts|js)$/.test(entry.name)) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

// A comparison with, or a switch on, `store.kind` (`this.deps.store.kind`, `deps.store?.kind`) or the
// configured `storage.backend`; and the type `Store['kind']`. Naming the backend in a log line is no branch.
const SUBJECT = String.raw`(?:\b\w*[sS]tore\??\.kind|\bstorage\??\.backend)\b`;
const BACKEND_BRANCH = [
  new RegExp(`${SUBJECT}\\s*[!=]==?`),
  new RegExp(`[!=]==?\\s*(?:\\w+\\??\\.)*${SUBJECT}`),
  new RegExp(`switch\\s*\\(\\s*(?:\\w+\\??\\.)*${SUBJECT}`),
  /\bStore\[['"]kind['"]\]/,
];

/** The lines of `file` that branch on the backend, as `path:line: text`. */
function backendBranches(path: string, text: string): string[] {
  return text
    .split('\n')
    .flatMap((line, i) => (BACKEND_BRANCH.some((re) => re.test(line)) ? [`${path}:${i + 1}: ${line.trim()}`] : []));
}

describe('the backend stays inside server/storage/', () => {
  it('finds a branch on store.kind or storage.backend when there is one', () => {
    expect(backendBranches('x.ts', "const a = 1;\nif (deps.store.kind === 's3') go();")).toEqual(["x.ts:2: if (deps.store.kind === 's3') go();"]);
    expect(backendBranches('x.ts', "if (config.storage.backend !== 'localfs') return;")).toHaveLength(1);
    expect(backendBranches('x.ts', "if ('localfs' === this.deps.store?.kind) go();")).toHaveLength(1);
    expect(backendBranches('x.ts', 'switch (deps.store.kind) {')).toHaveLength(1);
    expect(backendBranches('x.ts', "type K = Store['kind'];")).toHaveLength(1);
    expect(backendBranches('x.ts', "logger.info({ storage: config.storage.backend, store: store.kind }, 'listening');")).toEqual([]);
    expect(backendBranches('x.ts', "if (placement.kind === 'link') link();\nif (outcome.kind === 'full') send();")).toEqual([]);
  });

  it('no file of server/ (outside storage/) or client/src/ branches on the backend', async () => {
    const files = [...(await sources(join(ROOT, 'server'))), ...(await sources(join(ROOT, 'client', 'src')))];
    expect(files.length).toBeGreaterThan(20);
    const found: string[] = [];
    for (const file of files) {
      const path = relative(ROOT, file);
      // The backend's name belongs to storage/, to the configuration that chooses it and to its environment mapping.
      if (path.startsWith(join('server', 'storage')) || path === join('server', 'config.ts') || path === join('server', 'config-env.ts')) continue;
      found.push(...backendBranches(path, await readFile(file, 'utf8')));
    }
    expect(found).toEqual([]);
  });
});
