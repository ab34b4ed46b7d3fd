/**
 * vitest globalSetup: starts the real services the tests talk to, once per run.
 *
 * - S3: a throw-away single-node Ceph RGW (test/support/rgw.sh), unless
 *   S3_ENDPOINT is set, in which case S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY and
 *   S3_SECRET_KEY from the environment are used as they are.
 * - Redis: a throw-away redis-server (test/support/redis.sh), unless REDIS_URL is set.
 *
 * Tests read them with `inject('s3')` / `inject('redisUrl')`, or through
 * test/support/services.ts. Teardown stops what was started, by pid file.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

export interface S3TestSettings {
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The S3 the tests use (path-style; a Ceph RGW unless S3_ENDPOINT was set). */
    s3: S3TestSettings;
    /** `redis://127.0.0.1:PORT` of the test Redis (or REDIS_URL). */
    redisUrl: string;
  }
}

const here = fileURLToPath(new URL('.', import.meta.url));
const RGW_SH = join(here, 'rgw.sh');
const REDIS_SH = join(here, 'redis.sh');
const ACCESS_KEY = 'testaccess';
const SECRET_KEY = 'testsecret';

const say = (msg: string): void => {
  process.stderr.write(`[global-setup] ${msg}\n`);
};

/** Listens on 127.0.0.1:port (0: any); resolves to the server, or null if taken. */
function tryListen(port: number): Promise<Server | null> {
  return new Promise((ok) => {
    const server = createServer();
    server.once('error', () => ok(null));
    server.listen(port, '127.0.0.1', () => ok(server));
  });
}

/**
 * `n` distinct ports free on 127.0.0.1. They are taken below the kernel's
 * ephemeral range when there is room, so that no outgoing connection (this
 * machine runs many) grabs one before the daemon binds it.
 */
async function freePorts(n: number): Promise<number[]> {
  let low = 32768;
  try {
    low = Number((await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: any port will do
  }
  const servers: Server[] = [];
  try {
    for (let attempt = 0; servers.length < n && attempt < 200; attempt++) {
      const port = low > 21_000 && attempt < 100 ? 20_000 + Math.floor(Math.random() * (low - 20_000)) : 0;
      const server = await tryListen(port);
      if (server) servers.push(server);
    }
    if (servers.length < n) throw new Error('could not find free ports on 127.0.0.1');
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((ok) => s.close(() => ok()))));
  }
}

/** A start or stop of a support script; its output goes to our stderr. */
interface ScriptRun {
  child: ChildProcess;
  /** Resolves when the script exits 0; rejects otherwise. */
  done: Promise<void>;
}

function runScript(script: string, args: string[]): ScriptRun {
  // stdout/stderr are our fd 2, not pipes: the daemons that inherit them must
  // not hold anything open. Its own process group, so that it can be
  // interrupted with everything it runs in the foreground.
  const child = spawn('bash', [script, ...args], { stdio: ['ignore', 2, 2], detached: true });
  const done = new Promise<void>((ok, fail) => {
    child.once('error', fail);
    child.once('exit', (code, signal) =>
      code === 0 ? ok() : fail(new Error(`bash ${script} ${args.join(' ')} failed (${signal ?? `exit ${code}`})`)),
    );
  });
  return { child, done };
}

const isRunning = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

/** Sends SIGTERM to a script's process group; it then stops what it started. */
function interrupt(child: ChildProcess): void {
  if (child.pid === undefined || !isRunning(child)) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

/** Blocks until process `pid` has exited (or is a zombie), at most `ms`. */
function waitGoneSync(pid: number, ms: number): void {
  const deadline = Date.now() + ms;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < deadline) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return;
    } catch {
      return;
    }
    Atomics.wait(nap, 0, 0, 50);
  }
}

/** A service this setup started: how to stop it, and what to keep of it. */
interface Service {
  name: string;
  script: string;
  dir: string;
  /** Logs kept in test-artifacts/services/{name}/ after the run. */
  logs: string[];
  starting?: ChildProcess;
}

async function stopService(s: Service, artifacts: string): Promise<void> {
  if (s.starting && isRunning(s.starting)) {
    const exited = new Promise((ok) => s.starting!.once('exit', ok));
    interrupt(s.starting);
    await Promise.race([exited, new Promise((ok) => setTimeout(ok, 40_000))]);
  }
  await runScript(s.script, ['stop', s.dir]).done.catch((e: unknown) => say(`stopping ${s.name}: ${String(e)}`));
  for (const log of s.logs) {
    const to = join(artifacts, s.name, log.replace(/^log\//, ''));
    await mkdir(dirname(to), { recursive: true });
    await cp(join(s.dir, log), to).catch(() => {});
  }
  await rm(s.dir, { recursive: true, force: true }).catch(() => {});
}

/** For process.on('exit'): no promises can run there any more. */
function stopServiceSync(s: Service): void {
  if (s.starting && s.starting.pid !== undefined && isRunning(s.starting)) {
    interrupt(s.starting);
    waitGoneSync(s.starting.pid, 40_000);
  }
  spawnSync('bash', [s.script, 'stop', s.dir], { stdio: ['ignore', 2, 2] });
  rmSync(s.dir, { recursive: true, force: true });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = performance.now();
  const artifacts = join(project.config.root, 'test-artifacts', 'services');
  await rm(artifacts, { recursive: true, force: true });
  const services: Service[] = [];
  let stopped = false;

  const stopAll = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(services.map((s) => stopService(s, artifacts)));
    process.removeListener('exit', onExit);
  };
  // If vitest exits without running the teardown (Ctrl-C, a crash), still
  // leave no daemon behind.
  const onExit = (): void => {
    if (stopped) return;
    stopped = true;
    for (const s of services) stopServiceSync(s);
  };
  process.once('exit', onExit);

  /** Starts a service with its script; resolves when it is ready. */
  const start = async (name: string, script: string, logs: string[], args: (dir: string) => string[]): Promise<void> => {
    const dir = await mkdtemp(join(tmpdir(), `upload-gateway-${name}-`));
    const service: Service = { name, script, dir, logs };
    services.push(service);
    const run = runScript(script, ['start', ...args(dir)]);
    service.starting = run.child;
    await run.done;
    service.starting = undefined;
  };

  try {
    const [rgwPort, monPort, redisPort] = (await freePorts(3)) as [number, number, number];
    const env = process.env;
    const jobs: Promise<void>[] = [];

    if (env.S3_ENDPOINT) {
      if (!env.S3_ACCESS_KEY || !env.S3_SECRET_KEY) {
        throw new Error('S3_ENDPOINT is set, so S3_ACCESS_KEY and S3_SECRET_KEY must be set too');
      }
      project.provide('s3', {
        endpoint: env.S3_ENDPOINT,
        region: env.S3_REGION || 'us-east-1',
        accessKey: env.S3_ACCESS_KEY,
        secretKey: env.S3_SECRET_KEY,
      });
      say(`using the S3 at S3_ENDPOINT=${env.S3_ENDPOINT}`);
    } else {
      const rgwLogs = ['log/client.rgw.a.log', 'log/osd.0.log', 'log/mon.a.log', 'log/setup.log'];
      jobs.push(
        start('rgw', RGW_SH, rgwLogs, (dir) => [dir, String(rgwPort), String(monPort)]).then(() => {
          project.provide('s3', {
            endpoint: `http://127.0.0.1:${rgwPort}`,
            region: 'us-east-1',
            accessKey: ACCESS_KEY,
            secretKey: SECRET_KEY,
          });
        }),
      );
    }

    if (env.REDIS_URL) {
      project.provide('redisUrl', env.REDIS_URL);
      say('using the Redis at REDIS_URL');
    } else {
      jobs.push(
        start('redis', REDIS_SH, ['redis.log'], (dir) => [dir, String(redisPort)]).then(() => {
          project.provide('redisUrl', `redis://127.0.0.1:${redisPort}`);
        }),
      );
    }

    const failed = (await Promise.allSettled(jobs)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (e) {
    await stopAll();
    throw e;
  }

  say(`services ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return async () => {
    const t = performance.now();
    await stopAll();
    say(`services stopped in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  };
}
