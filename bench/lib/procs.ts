/**
 * The processes a benchmark compares: the gateway (the compiled build, as production runs it,
 * or the sources through tsx for a quick harness check) and its baselines — a bare
 * @tus/server + @tus/file-store (bench/bare-server.ts) and a bare node:http +
 * fs.createReadStream file server (bench/bare-files.ts). Each is a child process of its own,
 * so its RSS is its own.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '../..');

export interface Proc {
  name: string;
  url: string;
  pid: number;
  /** A private directory of this process's data, removed by stop(). */
  dir: string;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  /** `dist`: node dist/server/index.js (npm start); `source`: server/index.ts through tsx. */
  from: 'dist' | 'source';
  /** YAML merged over config/default.yaml after the bench's own overlay (CONFIG_FILE). */
  overlay?: string;
  env?: Record<string, string>;
}

async function spawnListening(name: string, file: string, args: string[], env: NodeJS.ProcessEnv, dir: string): Promise<Proc> {
  const proc: ChildProcess = spawn(file, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d).slice(-64 * 1024));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = once(proc, 'exit');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${out}`)), 60_000);
    const onData = () => {
      const m = /"event":"(?:gateway\.)?listening","url":"([^"]+)"/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      proc.stdout!.off('data', onData);
      resolve(m[1]!);
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    name,
    url,
    pid: proc.pid!,
    dir,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true }); // a run moves tens of GiB: free each process's as it goes
      // The next measurement starts on a settled disk: the removal's block frees (discards, on this
      // `discard`-mounted disk) and any writeback committed now, not during the other side's run.
      await new Promise<void>((resolve) => execFile('sync', () => resolve()));
    },
  };
}

/**
 * How `npm start` runs the gateway — package.json "start" is
 * `exec [env NAME=${NAME:-default}…] node FLAGS… dist/server/index.js` — as node flags and
 * environment. Read from package.json, not copied, so that the bench measures what production
 * runs: the heap sizing flags change throughput and RSS (README, Performance). The Dockerfile's
 * CMD runs the same; test/ops/compose.test.ts checks that the two agree.
 */
export async function startCommand(): Promise<{ flags: string[]; env: Record<string, string> }> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.split(/\s+/);
  const node = words.indexOf('node');
  const entry = words.indexOf('dist/server/index.js');
  if (node < 0 || entry < node) throw new Error(`package.json start is not "… node FLAGS dist/server/index.js": ${pkg.scripts.start}`);
  const env: Record<string, string> = {};
  for (const word of words.slice(0, node)) {
    // NAME=${NAME:-default}: the default, unless this process's environment sets NAME (as npm start would see it).
    const m = /^(\w+)=(?:\$\{\w+:-(.*)\}|(.*))$/.exec(word);
    if (m) env[m[1]!] = process.env[m[1]!] ?? m[2] ?? m[3]!;
  }
  return { flags: words.slice(node + 1, entry), env };
}

/** The gateway on the file datastore and the localfs Store under `parent`, on a free loopback port. */
export async function startGateway(parent: string, options: GatewayOptions): Promise<Proc> {
  const dir = await mkdtemp(join(parent, 'gateway-'));
  const overlay = join(dir, 'bench-overlay.yaml');
  await writeFile(
    overlay,
    options.overlay ??
      `tus:\n  file: { directory: ${JSON.stringify(join(dir, 'tus'))} }\nstorage:\n  localfs: { root: ${JSON.stringify(join(dir, 'storage'))} }\n`,
  );
  const start = await startCommand();
  const env = {
    ...process.env,
    ...(options.from === 'dist' ? start.env : {}),
    HOST: '127.0.0.1',
    PORT: '0',
    TUS_DATASTORE: 'file',
    STORAGE_BACKEND: 'localfs',
    SIGNING_SECRET: 'bench-signing-secret-of-32-bytes-or-more',
    // One JSON line per request is part of what the gateway does in production: it stays on.
    LOG_LEVEL: 'info',
    CONFIG_FILE: overlay,
    ...options.env,
  };
  const args =
    options.from === 'dist'
      ? [...start.flags, join(ROOT, 'dist/server/index.js')]
      : ['--import', 'tsx', join(ROOT, 'server/index.ts')];
  return spawnListening('gateway', process.execPath, args, env, dir);
}

/** bare @tus/server + @tus/file-store on node:http. */
export async function startBareTus(parent: string): Promise<Proc> {
  const dir = await mkdtemp(join(parent, 'bare-tus-'));
  return spawnListening('bare tus', process.execPath, [join(ROOT, 'bench/bare-server.ts'), join(dir, 'tus')], process.env, dir);
}

/** bare node:http + fs.createReadStream serving the files of `directory`. */
export async function startBareFiles(parent: string, directory: string): Promise<Proc> {
  const dir = await mkdtemp(join(parent, 'bare-files-'));
  return spawnListening('bare files', process.execPath, [join(ROOT, 'bench/bare-files.ts'), directory], process.env, dir);
}

/** Current and peak resident set size of a process, in bytes (VmRSS, VmHWM). */
export async function memoryOf(pid: number): Promise<{ now: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN) * 1024;
  return { now: kb('VmRSS'), peak: kb('VmHWM') };
}
