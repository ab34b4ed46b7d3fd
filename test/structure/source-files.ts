import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const SKIP = new Set(['node_modules', 'dist', '.git', 'build']);

/** Every file under `dir` (relative to the repository) whose name ends in one of `exts`, as [path, text]. */
export function sourceFiles(dir: string, exts: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (abs: string) => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      if (SKIP.has(entry.name)) continue;
      const path = join(abs, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (exts.some((e) => entry.name.endsWith(e))) out.push([relative(ROOT, path), readFileSync(path, 'utf8')]);
    }
  };
  walk(join(ROOT, dir));
  return out;
}
