import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../../..');
const CLIENT = join(ROOT, 'client');
const LOCK = join(CLIENT, '.build-lock');

function newestMtime(path: string): number {
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

function isFresh(): boolean {
  let built = 0;
  try {
    built = statSync(join(CLIENT, 'dist/widget.js')).mtimeMs;
  } catch {
    return false;
  }
  return built > Math.max(newestMtime(join(CLIENT, 'src')), newestMtime(join(CLIENT, 'vite.config.ts')));
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Builds client/dist when it is missing or older than its sources, so the browser tests
 * need no separate build step (a fresh checkout, or a widget edited since). Test files
 * run in parallel workers: a lock directory lets one build while the others wait.
 */
export function ensureWidgetBuilt(): void {
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (isFresh()) return;
    try {
      mkdirSync(LOCK);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock older than any build is left over from a killed run.
      const lock = statSync(LOCK, { throwIfNoEntry: false });
      if (lock && Date.now() - lock.mtimeMs > 120_000) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`waited too long for ${LOCK} (another widget build)`);
      sleep(200);
    }
  }
  try {
    if (isFresh()) return;
    const vite = join(ROOT, 'node_modules/vite/bin/vite.js');
    const run = spawnSync(process.execPath, [vite, 'build', '--config', join(CLIENT, 'vite.config.ts')], { cwd: ROOT, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`vite build failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
