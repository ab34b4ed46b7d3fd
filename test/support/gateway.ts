/**
 * The one way tests start a gateway: `startGateway(options)`, in this process or (with
 * `child: true`) as a separate `node --import tsx server/index.ts`, from the same options.
 *
 * Public surface:
 * - `GatewayOptions`: `env` (env-style overrides, docs/api.md §1), `yaml` (merged over
 *   config/default.yaml, for fields without an env override), `dataDir` (kept across
 *   restarts when passed again; a fresh temp dir otherwise), `child`, `logger` (in-process).
 * - `startGateway(options)` → `InProcessGateway` (the running gateway: `url`, `config`,
 *   `server`, `close()`) or, with `child: true`, `GatewayProcess` (`url`, `kill9()`,
 *   `stop()`, `output()`). Both carry `dataDir` and the full `env` they were started with.
 * - `useGateway(options)`: an in-process gateway for the calling describe block (started in
 *   its beforeAll, closed in its afterAll; test/support/use.ts).
 * - `testConfig(options)`: the Config `startGateway` would use, without starting anything
 *   (for tests that build the app themselves, or expect the start-up to fail).
 *
 * Every gateway listens on 127.0.0.1, port 0 (the gateway names the port it bound, and
 * derives its publicUrl from it), with the tus data and the localfs root under `dataDir`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parse, stringify } from 'yaml';
import { loadConfig, type Config } from '../../server/config.ts';
import type { Logger } from '../../server/logger.ts';
import { startGateway as startRunningGateway, type RunningGateway } from '../../server/main.ts';
import { useStarted } from './use.ts';

const ROOT = join(import.meta.dirname, '../..');

export interface GatewayOptions {
  env?: Record<string, string | undefined>;
  /** YAML merged over the defaults, after the data-dir overlay (e.g. `tus: { expiration: 3s }`). */
  yaml?: string;
  /** Where the tus data (`tus/`) and the localfs root (`storage/`) live. */
  dataDir?: string;
  /** Run as a child process (for kill -9, SIGTERM and log-line tests). */
  child?: boolean;
  /** In-process only: where the logs go (default: silent unless env.LOG_LEVEL says otherwise). */
  logger?: Logger;
}

interface Started {
  url: string;
  dataDir: string;
  /** The env the gateway was started with (defaults included). */
  env: Record<string, string>;
}

/** Closing also removes the data directory when the gateway made it (none was passed). */
export type InProcessGateway = RunningGateway & Started;

export interface GatewayProcess extends Started {
  child: ChildProcess;
  /** stdout+stderr so far (JSON log lines). */
  output(): string;
  /** SIGKILL, and wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM, and wait for the exit code. */
  stop(): Promise<number | null>;
}

const BASE_ENV = { HOST: '127.0.0.1', PORT: '0', SIGNING_SECRET: 'test-signing-secret-of-32-bytes-at-least', LOG_LEVEL: 'silent' };

/** The options resolved: a data dir, the full env, the overlay text. */
async function prepare(options: GatewayOptions, logLevel: string) {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'gw-')));
  const given = Object.fromEntries(Object.entries(options.env ?? {}).filter(([, v]) => v !== undefined)) as Record<string, string>;
  const env: Record<string, string> = { ...BASE_ENV, LOG_LEVEL: logLevel, ...given };
  const extra = options.yaml ? (parse(options.yaml) as Tree) : {};
  const overlay = stringify(merge({ tus: { file: { directory: join(dataDir, 'tus') } }, storage: { localfs: { root: join(dataDir, 'storage') } } }, extra));
  return { dataDir, env, overlay };
}

type Tree = Record<string, unknown>;
function merge(a: Tree, b: Tree): Tree {
  const out: Tree = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' ? merge(cur as Tree, v as Tree) : v;
  }
  return out;
}

/** The configuration `startGateway(options)` runs with (in this process). */
export async function testConfig(options: GatewayOptions = {}): Promise<{ config: Config; dataDir: string; env: Record<string, string> }> {
  const { dataDir, env, overlay } = await prepare(options, 'silent');
  const config = loadConfig(env, {
    defaults: await readFile(join(ROOT, 'config/default.yaml'), 'utf8'),
    overlay: { name: 'test overlay', text: overlay },
  });
  return { config, dataDir, env };
}

export function startGateway(options: GatewayOptions & { child: true }): Promise<GatewayProcess>;
export function startGateway(options?: GatewayOptions & { child?: false }): Promise<InProcessGateway>;
export function startGateway(options: GatewayOptions = {}): Promise<InProcessGateway | GatewayProcess> {
  return options.child ? startChild(options) : startInProcess(options);
}

/** `startGateway(options)` (in this process) in the calling describe block's beforeAll, closed in its afterAll. */
export function useGateway(options: Omit<GatewayOptions, 'child'> = {}): InProcessGateway {
  return useStarted('useGateway', () => startGateway(options));
}

async function startInProcess(options: GatewayOptions): Promise<InProcessGateway> {
  const { config, dataDir, env } = await testConfig(options);
  const madeDir = options.dataDir === undefined;
  const gw = await startRunningGateway(config, { logger: options.logger ?? pino({ level: env.LOG_LEVEL ?? 'silent' }) });
  const stop = gw.close;
  const close = async () => {
    await stop();
    if (madeDir) await rm(dataDir, { recursive: true, force: true });
  };
  return Object.assign(gw, { dataDir, env, close });
}

async function startChild(options: GatewayOptions): Promise<GatewayProcess> {
  // info: the parent waits for the `gateway.listening` line to learn the port.
  const { dataDir, env, overlay } = await prepare(options, 'info');
  const overlayPath = join(dataDir, 'overlay.yaml');
  await writeFile(overlayPath, overlay);
  const fullEnv = { ...env, CONFIG_FILE: overlayPath };
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/index.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...fullEnv } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${out}`)), 30_000);
    const onData = () => {
      const m = /"event":"gateway.listening","url":"([^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url,
    child,
    dataDir,
    env: fullEnv,
    output: () => out,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
