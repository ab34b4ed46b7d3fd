import { createHash } from 'node:crypto';
import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../support/gateway.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { cliHome, jsonLines, randomFile, runCli, spawnCli, until } from './cli-kit.ts';

type Gateway = Awaited<ReturnType<typeof startGateway>>;
const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sizeOf = async (p: string) => (await stat(p).catch(() => undefined))?.size;

interface DownloadDoc {
  key: string;
  file: string;
  size: number;
  sha256: string;
  verified: boolean;
  resumedFrom: number;
  requests: number;
  rangeRequests: number;
}

let gw: Gateway;
let proxy: TcpProxy;
let home: { dir: string; xdg: string };
let data: Buffer;
const KEY = 'models/dl/weights.bin';

beforeAll(async () => {
  gw = await startGateway();
  proxy = await startTcpProxy({ port: Number(new URL(gw.url).port) });
  home = await cliHome();
  data = await randomFile(join(home.dir, 'weights.bin'), 16 * MiB + 123);
  const up = await runCli(['upload', join(home.dir, 'weights.bin'), '--owner', 'dl'], { UGW_SERVER: gw.url, XDG_CONFIG_HOME: home.xdg });
  expect(up.code).toBe(0);
});
afterAll(async () => {
  await proxy?.close();
  await gw?.close();
});

describe('ugw download', () => {
  it('downloads byte-exact, checks Repr-Digest and renames into place', async () => {
    const out = join(home.dir, 'plain.bin');
    const run = await runCli(['download', KEY, '-o', out, '--json'], { UGW_SERVER: gw.url, XDG_CONFIG_HOME: home.xdg });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(jsonLines<DownloadDoc>(run.stdout)).toEqual([
      { key: KEY, file: out, size: data.length, sha256: sha256(data), verified: true, resumedFrom: 0, requests: 1, rangeRequests: 0 },
    ]);
    expect((await readFile(out)).equals(data)).toBe(true);
    expect(await sizeOf(`${out}.part`)).toBeUndefined();
  });

  it('resumes with Range + If-Range when the proxy cuts the connection mid-download', async () => {
    const out = join(home.dir, 'cut.bin');
    proxy.throttle(4 * MiB);
    const before = proxy.bytesDown;
    const cuts = proxy.cuts;
    const cli = spawnCli(['download', KEY, '-o', out, '--json'], { UGW_SERVER: proxy.url, XDG_CONFIG_HOME: home.xdg });
    await until(() => proxy.bytesDown - before > 5 * MiB, 30_000, 'download bytes');
    const onDisk = (await sizeOf(`${out}.part`)) ?? 0;
    proxy.cutAll();
    proxy.throttle(undefined);
    const run = await cli.done;
    expect(proxy.cuts).toBe(cuts + 1);
    expect(onDisk).toBeGreaterThan(0);
    expect(run.code).toBe(0);
    const [doc] = jsonLines<DownloadDoc>(run.stdout);
    expect(doc!.requests).toBeGreaterThanOrEqual(2);
    expect(doc!.rangeRequests).toBe(doc!.requests - 1);
    expect(doc!.verified).toBe(true);
    expect(run.stderr).toMatch(/resuming/);
    expect((await readFile(out)).equals(data)).toBe(true);
  });

  it('resumes the FILE.part of a run killed with SIGKILL', async () => {
    const out = join(home.dir, 'killed.bin');
    const env = { UGW_SERVER: proxy.url, XDG_CONFIG_HOME: home.xdg };
    proxy.throttle(3 * MiB);
    const first = spawnCli(['download', KEY, '-o', out], env);
    await until(async () => ((await sizeOf(`${out}.part`)) ?? 0) > 4 * MiB, 30_000, 'part file');
    first.child.kill('SIGKILL');
    expect((await first.done).signal).toBe('SIGKILL');
    proxy.throttle(undefined);
    const partial = (await sizeOf(`${out}.part`))!;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(data.length);
    expect(await sizeOf(out)).toBeUndefined();

    const run = await runCli(['download', KEY, '-o', out, '--json'], env);
    expect(run.code).toBe(0);
    const [doc] = jsonLines<DownloadDoc>(run.stdout);
    expect(doc).toMatchObject({ resumedFrom: partial, requests: 1, rangeRequests: 1, verified: true, sha256: sha256(data) });
    expect((await readFile(out)).equals(data)).toBe(true);
  });

  it('exits 3 when the stored bytes were changed behind the gateway, and leaves no file at the final name', async () => {
    const file = join(home.dir, 'tamper.bin');
    const original = await randomFile(file, 2 * MiB);
    const env = { UGW_SERVER: gw.url, XDG_CONFIG_HOME: home.xdg };
    expect((await runCli(['upload', file, '--owner', 'dl'], env)).code).toBe(0);
    // Same length, one byte different, written in place in the localfs root, with the old
    // mtime put back (as bit rot would: the store's commit check compares size and mtime).
    const stored = join(gw.dataDir, 'storage', 'models', 'dl', 'tamper.bin');
    const { atimeMs, mtimeMs } = await stat(stored);
    const bad = Buffer.from(original);
    bad[bad.length >> 1]! ^= 0xff;
    await writeFile(stored, bad, { flag: 'r+' });
    // Half a millisecond early: seconds as a double cannot round it past the sidecar's stamp.
    await utimes(stored, atimeMs / 1000, (Math.floor(mtimeMs) - 0.5) / 1000);

    const out = join(home.dir, 'tamper-out.bin');
    const run = await runCli(['download', 'models/dl/tamper.bin', '-o', out], env);
    expect(run.stderr).toMatch(/DigestMismatch/);
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^ugw: DigestMismatch: .*does not match the server's Repr-Digest/);
    expect(await sizeOf(out)).toBeUndefined();
    expect(await sizeOf(`${out}.part`)).toBeUndefined();
    expect((await readFile(`${out}.corrupt`)).equals(bad)).toBe(true);
  });

  it('exits 1 with the server error code for a missing key', async () => {
    const out = join(home.dir, 'none.bin');
    const run = await runCli(['--json', 'download', 'models/dl/none.bin', '-o', out], { UGW_SERVER: gw.url, XDG_CONFIG_HOME: home.xdg });
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { code: 'NoSuchKey', status: 404 } });
    expect(await sizeOf(out)).toBeUndefined();
  });
});
