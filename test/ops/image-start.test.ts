/**
 * The image's start path as far as this machine allows (Docker does not run here): the
 * compiled build (`npm run build` → dist/), started the way the Dockerfile's CMD starts it,
 * as an unprivileged user whose only writable place is the data directory, with the
 * image's own overlay (config/compose.yaml, /data → a temporary directory). And
 * `npm start`, whose SIGTERM must reach the gateway and free the port.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpload, encodedKey, patch, randomData, raw, sha256Hex } from '../gateway/pairings.ts';
import { startCommand } from '../../bench/lib/procs.ts';
import { freePort } from '../support/ports.ts';

const ROOT = join(import.meta.dirname, '../..');
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(false)));
  });
}

/** Waits for the "listening" log line; rejects with the output if the process exits first. */
function started(child: ChildProcess, out: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start:\n${out()}`)), 90_000);
    const check = () => {
      const m = /"event":"gateway.listening","url":"([^"]+)"/.exec(out());
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${out()}`));
    });
  });
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

beforeAll(async () => {
  // The Dockerfile's build stage runs the same script.
  await promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT });
}, 180_000);

describe('the compiled gateway, started as the image starts it', () => {
  let dir: string;
  let child: ChildProcess;
  let out = '';
  let base: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gw-image-'));
    const data = join(dir, 'data');
    await mkdir(data);
    // The image's overlay, with its /data moved here.
    const overlay = (await readFile(join(ROOT, 'config/compose.yaml'), 'utf8')).replaceAll('/data/', `${data}/`);
    expect(overlay).toContain(`${data}/tus`);
    await writeFile(join(dir, 'image.yaml'), overlay);
    if (isRoot) {
      await chmod(dir, 0o755); // the overlay is readable, the directory holding it not writable
      await chown(data, NOBODY, NOBODY); // as the Dockerfile: the unprivileged user owns /data
    }
    const start = await startCommand(); // npm start's flags and environment: the Dockerfile's CMD and ENV (test/ops/compose.test.ts)
    const cmd = ['node', ...start.flags, 'dist/server/index.js'];
    const [file, ...args] = isRoot
      ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, ...cmd.slice(1)]
      : [process.execPath, ...cmd.slice(1)];
    child = spawn(file!, args, {
      cwd: ROOT,
      env: { ...process.env, ...start.env, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(await freePort()), CONFIG_FILE: join(dir, 'image.yaml'), SIGNING_SECRET: 'image-test-signing-secret-0123456789', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    base = await started(child, () => out);
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await exited(child);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs compiled JavaScript, not TypeScript, as a non-root user', async () => {
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
    expect(uid).not.toBe(0);
    if (isRoot) expect(uid).toBe(NOBODY);
    const cmdline = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0');
    expect(cmdline).toContain('dist/server/index.js');
    expect(cmdline.join(' ')).not.toMatch(/tsx|\.ts\b/);
    // No engine, deprecation or runtime warning at start (e.g. the AWS SDK's Node-version notice).
    expect(out).not.toMatch(/\bWarning\b|DeprecationWarning|NodeVersion|EBADENGINE/);
  });

  it('answers /healthz and /readyz, and takes an upload into its data directory with the native sha256', async () => {
    expect((await raw(`${base}/healthz`)).status).toBe(200);
    expect((await raw(`${base}/readyz`)).status).toBe(200);
    const body = randomData(3 * 2 ** 20);
    const { url } = await createUpload(base, { length: body.length, metadata: { filename: 'image.onnx', owner: 'image' } });
    expect((await patch(url, 0, body.subarray(0, 2 ** 20))).status).toBe(204);
    // The hash state after the first PATCH names the engine: the addon loaded from the compiled build.
    const hashesDir = join(dir, 'data/tus/.gateway/hashes');
    const [state] = await readdir(hashesDir);
    expect(JSON.parse(await readFile(join(hashesDir, state!), 'utf8'))).toMatchObject({ engine: 'openssl', offset: 2 ** 20 });
    const last = await patch(url, 2 ** 20, body.subarray(2 ** 20));
    expect(last.status, last.text).toBe(204);
    const key = 'models/image/image.onnx';
    expect(last.headers['object-key']).toBe(key);
    const got = await raw(`${base}/api/objects/${encodedKey(key)}`);
    expect(sha256Hex(got.body)).toBe(sha256Hex(body));
    const file = await stat(join(dir, 'data/storage', key));
    expect(file.size).toBe(body.length);
    if (isRoot) expect(file.uid).toBe(NOBODY);
    // The widget bundle is served from the package root, not from beside the compiled files.
    expect((await raw(`${base}/widget/widget.js`)).status).toBe(200);
  });

  it('stops on SIGTERM with exit code 0', async () => {
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    expect(out).toContain('"event":"gateway.stopping"');
  });
});

describe('npm start', () => {
  it('runs the compiled build, and SIGTERM to npm stops the gateway and frees the port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-npm-start-'));
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', SIGNING_SECRET: 'npm-start-test-signing-secret-012345',
        CONFIG_FILE: join(dir, 'overlay.yaml') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await writeFile(join(dir, 'overlay.yaml'), `tus:\n  file: { directory: ${JSON.stringify(join(dir, 'tus'))} }\nstorage:\n  localfs: { root: ${JSON.stringify(join(dir, 'storage'))} }\n`);
    let out = '';
    npm.stdout!.on('data', (d) => (out += d));
    npm.stderr!.on('data', (d) => (out += d));
    try {
      const url = await started(npm, () => out);
      expect(out).toContain('dist/server/index.js');
      expect(out).not.toMatch(/EBADENGINE|npm warn/i);
      expect((await raw(`${url}/healthz`)).status).toBe(200);
      expect(await listening(port)).toBe(true);
      npm.kill('SIGTERM'); // the npm process, not the gateway: npm passes it on, `exec` leaves no shell between
      await exited(npm);
      let free = false;
      for (let i = 0; i < 100 && !free; i++) {
        free = !(await listening(port));
        if (!free) await new Promise((r) => setTimeout(r, 100));
      }
      expect(free, out).toBe(true);
      expect(out).toContain('"event":"gateway.stopping"');
    } finally {
      if (npm.exitCode === null) npm.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
