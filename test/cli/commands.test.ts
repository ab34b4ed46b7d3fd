import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../support/gateway.ts';
import { cliHome, freePort, jsonLines, randomFile, runCli } from './cli-kit.ts';

type Gateway = Awaited<ReturnType<typeof startGateway>>;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let gw: Gateway;
let home: { dir: string; xdg: string };
let env: Record<string, string>;

beforeAll(async () => {
  // publicUrl must name the real port: localfs presigned URLs are built from it.
  const port = await freePort();
  gw = await startGateway({ env: { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` } });
  home = await cliHome();
  env = { UGW_SERVER: gw.url, XDG_CONFIG_HOME: home.xdg };
});
afterAll(async () => {
  await gw?.close();
});

describe('ugw usage', () => {
  it.each([
    [[], /Usage: ugw/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['download'], /missing required argument 'key'/],
    [['upload'], /missing required argument 'file'/],
    [['upload', 'x', '--parallel', '0'], /--parallel must be a whole number/],
    [['upload', 'a', 'b', '--name', 'n'], /--name names one file/],
    [['presign', 'models/a/b', '--put'], /--put needs --size/],
    [['presign', 'models/a/b', '--size', '3'], /apply to --put only/],
    [['presign', 'models/a/b', '--expires', 'soon'], /--expires must be a duration/],
    [['--server', 'ftp://x', 'ls'], /--server must be an http\(s\) URL/],
    [['--retry-time', 'long', 'ls'], /--retry-time must be a whole number/],
    [['ls', '--no-such-flag'], /unknown option '--no-such-flag'/],
  ])('%j exits 2 with one usage line', async (args, message) => {
    const run = await runCli(args as string[], env);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
  });

  it.each([['--help'], ['upload', '--help'], ['download', '--help'], ['ls', '--help'], ['stat', '--help'], ['rm', '--help'], ['presign', '--help']])(
    '%s prints help and exits 0',
    async (...args) => {
      const run = await runCli(args, env);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Usage: ugw/);
      expect(run.stdout).toMatch(/--help/);
    },
  );
});

describe('ugw ls, stat, rm, presign', () => {
  it('lists every page, stats with the sha256, removes', async () => {
    const files = await Promise.all(['one.bin', 'two.bin', 'three.bin'].map((n) => randomFile(join(home.dir, n), 1000 + n.length)));
    const up = await runCli(['upload', '--owner', 'lsown', '--parallel', '3', ...['one.bin', 'two.bin', 'three.bin'].map((n) => join(home.dir, n))], env);
    expect(up.code).toBe(0);

    // One object per page: ls must follow nextCursor to see all three.
    const ls = await runCli(['--json', 'ls', 'models/lsown/', '--page-size', '1'], env);
    expect(ls.code).toBe(0);
    const listed = jsonLines<{ key: string; size: number }>(ls.stdout);
    expect(listed.map((o) => o.key)).toEqual(['models/lsown/one.bin', 'models/lsown/three.bin', 'models/lsown/two.bin']);
    const human = await runCli(['--quiet', 'ls', 'models/lsown/'], env);
    expect(human.stderr).toBe('');
    expect(human.stdout.trim().split('\n')).toHaveLength(3);
    expect(human.stdout).toMatch(/^ +100\d B {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}models\/lsown\/one\.bin$/m);

    const st = await runCli(['stat', 'models/lsown/two.bin'], env);
    expect(st.code).toBe(0);
    expect(st.stdout).toContain(`meta.sha256   ${sha256(files[1]!)}`);
    const stJson = await runCli(['--json', 'stat', 'models/lsown/two.bin'], env);
    expect(JSON.parse(stJson.stdout)).toMatchObject({ key: 'models/lsown/two.bin', size: files[1]!.length, metadata: { sha256: sha256(files[1]!), owner: 'lsown' } });

    const rm = await runCli(['--json', 'rm', 'models/lsown/two.bin'], env);
    expect(rm.code).toBe(0);
    expect(JSON.parse(rm.stdout)).toEqual({ key: 'models/lsown/two.bin', deleted: true });
    const gone = await runCli(['stat', 'models/lsown/two.bin'], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^ugw: NoSuchKey: .*\(404\)\n$/);
    expect((await runCli(['--json', 'ls', 'models/lsown/'], env)).stdout.trim().split('\n')).toHaveLength(2);
  });

  it('presigns a PUT that a plain HTTP client uploads to, and a GET that reads it back', async () => {
    const body = Buffer.from('bytes through a presigned URL\n');
    const put = await runCli(['--json', 'presign', 'models/presigned/p.txt', '--put', '--size', String(body.length), '--expires', '15m'], env);
    expect(put.code).toBe(0);
    const answer = JSON.parse(put.stdout) as { url: string; method: string; expiresAt: string; headers?: Record<string, string> };
    expect(answer.method).toBe('PUT');
    const lifetime = Date.parse(answer.expiresAt) - Date.now();
    expect(lifetime).toBeGreaterThan(14 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(15 * 60_000);
    const res = await fetch(answer.url, { method: 'PUT', body, headers: answer.headers ?? {} });
    expect(res.status).toBeLessThan(300);

    const get = await runCli(['presign', 'models/presigned/p.txt'], env);
    expect(get.code).toBe(0);
    const url = get.stdout.trim().split('\n')[0]!;
    const read = await fetch(url);
    expect(read.status).toBe(200);
    expect(Buffer.from(await read.arrayBuffer()).equals(body)).toBe(true);
    const st = await runCli(['--json', 'stat', 'models/presigned/p.txt'], env);
    expect(JSON.parse(st.stdout)).toMatchObject({ size: body.length });
  });
});

describe('ugw --token and errors', () => {
  let receiver: Server;
  const seen: IncomingHttpHeaders[] = [];
  let url: string;
  beforeAll(async () => {
    // A real HTTP server that refuses every request as a gateway with tokens would.
    receiver = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'Unauthorized', message: 'The token is not valid' } }));
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

  it('sends the token as a bearer on every request, prints the server error code in one line, never the token', async () => {
    const token = 'tok-7f3a9c-secret';
    for (const args of [['ls'], ['stat', 'models/a/b'], ['rm', 'models/a/b'], ['presign', 'models/a/b'], ['download', 'models/a/b', '-o', join(home.dir, 'x')]]) {
      seen.length = 0;
      const run = await runCli(['--server', url, '--token', token, ...args], { XDG_CONFIG_HOME: home.xdg });
      expect(run.code).toBe(1);
      expect(run.stderr).toBe('ugw: Unauthorized: The token is not valid (401)\n');
      expect(run.stdout + run.stderr).not.toContain(token);
      expect(seen.length).toBeGreaterThan(0);
      for (const h of seen) expect(h.authorization).toBe(`Bearer ${token}`);
    }
    // From the environment too.
    seen.length = 0;
    const run = await runCli(['--json', 'ls'], { UGW_SERVER: url, UGW_TOKEN: token, XDG_CONFIG_HOME: home.xdg });
    expect(JSON.parse(run.stderr)).toEqual({ error: { code: 'Unauthorized', message: 'The token is not valid', status: 401 } });
    expect(seen[0]!.authorization).toBe(`Bearer ${token}`);
  });

  it('exits 1 with a network error code when nothing listens', async () => {
    const port = await freePort();
    const started = Date.now();
    // Retries for 3 s (0 + 1 + 2), then gives up.
    const run = await runCli(['--server', `http://127.0.0.1:${port}`, '--retry-time', '3', 'stat', 'models/a/b'], { XDG_CONFIG_HOME: home.xdg });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ugw: NetworkError: .*ECONNREFUSED[^\n]*\n$/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
