import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../../..');
const CLIENT = join(ROOT, 'client');

function newestMtime(path: string): number {
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/**
 * Builds client/dist when it is missing or older than its sources, so the browser
 * tests need no separate build step (a fresh checkout, or a widget edited since).
 */
export function ensureWidgetBuilt(): void {
  const built = (() => {
    try {
      return statSync(join(CLIENT, 'dist/widget.js')).mtimeMs;
    } catch {
      return 0;
    }
  })();
  const sources = Math.max(newestMtime(join(CLIENT, 'src')), newestMtime(join(CLIENT, 'vite.config.ts')));
  if (built > sources) return;
  const vite = join(ROOT, 'node_modules/vite/bin/vite.js');
  const run = spawnSync(process.execPath, [vite, 'build', '--config', join(CLIENT, 'vite.config.ts')], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`vite build failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
}
