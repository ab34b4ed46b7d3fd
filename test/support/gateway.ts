import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parse, stringify } from 'yaml';
import { loadConfig, type Config } from '../../server/config.ts';
import { startGateway, type RunningGateway } from '../../server/main.ts';

/** Configuration for a test gateway: defaults + env-style overrides, data in a fresh temp dir. */
export async function testConfig(
  env: Record<string, string | undefined> = {},
  dataDir?: string,
  /** Extra YAML merged over the defaults (fields that have no env override, e.g. tus.expiration). */
  extraYaml = '',
): Promise<{ config: Config; dataDir: string; env: Record<string, string> }> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'gw-')));
  const extra = extraYaml ? parse(extraYaml) : {};
  const overlay = stringify(
    merge({ tus: { file: { directory: join(dir, 'tus') } }, storage: { localfs: { root: join(dir, 'storage') } } }, extra),
  );
  const fullEnv: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: '0',
    SIGNING_SECRET: 'test-signing-secret-of-32-bytes-at-least',
    LOG_LEVEL: 'silent',
    ...(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>),
  };
  const config = loadConfig(fullEnv, {
    defaults: await readFile(join(import.meta.dirname, '../../config/default.yaml'), 'utf8'),
    overlay: { name: 'test overlay', text: overlay },
  });
  return { config, dataDir: dir, env: fullEnv };
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

/** The gateway in this process, on a real socket (127.0.0.1, random port). */
export async function startTestGateway(
  env: Record<string, string | undefined> = {},
  dataDir?: string,
  extraYaml = '',
): Promise<RunningGateway & { dataDir: string }> {
  const { config, dataDir: dir } = await testConfig(env, dataDir, extraYaml);
  const gw = await startGateway(config, { logger: pino({ level: env.LOG_LEVEL ?? 'silent' }) });
  return Object.assign(gw, { dataDir: dir });
}

export interface GatewayProcess {
  url: string;
  child: ChildProcess;
  dataDir: string;
  /** stdout+stderr so far (JSON log lines). */
  output(): string;
  /** SIGKILL, and wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM, and wait for the exit code. */
  stop(): Promise<number | null>;
}

/**
 * The gateway as a separate process (`tsx server/index.ts`), for kill -9 and SIGTERM tests.
 * The data dir is kept across restarts when passed again.
 */
export async function spawnGateway(env: Record<string, string | undefined> = {}, dataDir?: string): Promise<GatewayProcess> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'gwp-')));
  const overlayPath = join(dir, 'overlay.yaml');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(
    overlayPath,
    `tus:\n  file: { directory: ${JSON.stringify(join(dir, 'tus'))} }\nstorage:\n  localfs: { root: ${JSON.stringify(join(dir, 'storage'))} }\n`,
  );
  const root = join(import.meta.dirname, '../..');
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'server/index.ts')], {
    cwd: root,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      SIGNING_SECRET: 'test-signing-secret-of-32-bytes-at-least',
      LOG_LEVEL: 'info',
      CONFIG_FILE: overlayPath,
      ...env,
    } as NodeJS.ProcessEnv,
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
    dataDir: dir,
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
