import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../support/gateway.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { cliHome, freePort, jsonLines, randomFile, runCli, spawnCli, until } from './cli-kit.ts';

type Gateway = Awaited<ReturnType<typeof startGateway>>;
const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface UploadDoc {
  file: string;
  key: string;
  size: number;
  sha256: string;
  uploadUrl: string;
  resumedFrom: number;
}

let gw: Gateway;
let proxy: TcpProxy;

beforeAll(async () => {
  gw = await startGateway();
  proxy = await startTcpProxy({ port: Number(new URL(gw.url).port) });
});
afterAll(async () => {
  await proxy?.close();
  await gw?.close();
});

async function uploadStatus(uploadUrl: string): Promise<{ offset: number; status: string; metadata: Record<string, string> }> {
  const id = uploadUrl.slice(uploadUrl.lastIndexOf('/') + 1);
  const res = await fetch(`${gw.url}/api/uploads/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { offset: number; status: string; metadata: Record<string, string> };
}

describe('ugw upload', () => {
  it('resumes from the server offset after the process is killed with SIGKILL mid-upload', async () => {
    const { dir, xdg } = await cliHome();
    const data = await randomFile(join(dir, 'big.onnx'), 24 * MiB);
    const env = { UGW_SERVER: proxy.url, XDG_CONFIG_HOME: xdg };
    proxy.throttle(3 * MiB);
    const before = proxy.bytesUp;
    const first = spawnCli(['upload', join(dir, 'big.onnx'), '--owner', 'kill9', '--json'], env);
    // Past the first 8 MiB chunk (confirmed) and into the second one.
    await until(() => proxy.bytesUp - before > 11 * MiB, 60_000, 'upload bytes');
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    proxy.throttle(undefined);

    // The resume state lives in the config dir: one file naming the upload URL.
    const stateDir = join(xdg, 'upload-gateway', 'uploads');
    const [stateName] = await readdir(stateDir);
    const state = JSON.parse(await readFile(join(stateDir, stateName!), 'utf8')) as { uploadUrl: string; metadata: Record<string, string> };
    expect(state.metadata.sha256).toBe(sha256(data));
    // The gateway settles the cut PATCH; wait until its offset stops moving.
    let offset = -1;
    await until(async () => {
      const now = (await uploadStatus(state.uploadUrl)).offset;
      const settled = now === offset;
      offset = now;
      await new Promise((r) => setTimeout(r, 150));
      return settled;
    });
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThan(data.length);

    const second = await runCli(['upload', join(dir, 'big.onnx'), '--owner', 'kill9', '--json'], env);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    const [doc] = jsonLines<UploadDoc>(second.stdout);
    expect(doc).toMatchObject({ key: 'models/kill9/big.onnx', size: data.length, sha256: sha256(data), uploadUrl: state.uploadUrl });
    expect(doc!.resumedFrom).toBe(offset);
    const stored = await readFile(join(gw.dataDir, 'storage', 'models', 'kill9', 'big.onnx'));
    expect(stored.equals(data)).toBe(true);
    // Finished: the resume state is gone.
    expect(await readdir(stateDir)).toEqual([]);
  });

  it('rides out a network outage mid-upload in the same run (cut, then nothing listening for a while)', async () => {
    const { dir, xdg } = await cliHome();
    const data = await randomFile(join(dir, 'outage.bin'), 12 * MiB);
    const gatewayPort = Number(new URL(gw.url).port);
    const deadPort = await freePort();
    const cuts = proxy.cuts;
    proxy.throttle(4 * MiB);
    const cli = spawnCli(['upload', join(dir, 'outage.bin'), '--owner', 'outage', '--json'], { UGW_SERVER: proxy.url, XDG_CONFIG_HOME: xdg });
    await proxy.cutAfter(5 * MiB);
    // For 4 s every new connection goes nowhere (refused), then the gateway is back.
    proxy.setTarget(deadPort);
    await new Promise((r) => setTimeout(r, 4000));
    proxy.setTarget(gatewayPort);
    proxy.throttle(undefined);
    const run = await cli.done;
    expect(proxy.cuts).toBeGreaterThan(cuts);
    expect(run.code).toBe(0);
    const [doc] = jsonLines<UploadDoc>(run.stdout);
    expect(doc).toMatchObject({ key: 'models/outage/outage.bin', sha256: sha256(data) });
    expect((await readFile(join(gw.dataDir, 'storage', 'models', 'outage', 'outage.bin'))).equals(data)).toBe(true);
  });

  it('sends Upload-Checksum with every PATCH and the whole file sha256 as metadata; --parallel uploads several files', async () => {
    // A real HTTP receiver in front of the gateway that hashes each PATCH body as it forwards it.
    const seen: Array<{ method: string; checksum?: string; bodySha256: string; metadata?: string }> = [];
    const target = new URL(gw.url);
    const recorder: Server = createServer((req, res) => {
      const hash = createHash('sha256');
      const up = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      req.on('data', (c: Buffer) => hash.update(c));
      req.on('end', () =>
        seen.push({
          method: req.method ?? '',
          bodySha256: hash.digest('base64'),
          ...(req.headers['upload-checksum'] ? { checksum: String(req.headers['upload-checksum']) } : {}),
          ...(req.headers['upload-metadata'] ? { metadata: String(req.headers['upload-metadata']) } : {}),
        }),
      );
      req.pipe(up);
    });
    await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
    try {
      const { dir, xdg } = await cliHome();
      const a = await randomFile(join(dir, 'a.bin'), 9 * MiB + 7);
      const b = await randomFile(join(dir, 'b.bin'), 3 * MiB);
      const url = `http://127.0.0.1:${(recorder.address() as { port: number }).port}`;
      const run = await runCli(['--server', url, '--json', 'upload', join(dir, 'a.bin'), join(dir, 'b.bin'), '--owner', 'sums', '--parallel', '2'], {
        XDG_CONFIG_HOME: xdg,
      });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const docs = jsonLines<UploadDoc>(run.stdout).sort((x, y) => x.key.localeCompare(y.key));
      expect(docs.map((d) => [d.key, d.sha256, d.resumedFrom])).toEqual([
        ['models/sums/a.bin', sha256(a), 0],
        ['models/sums/b.bin', sha256(b), 0],
      ]);
      const patches = seen.filter((s) => s.method === 'PATCH');
      expect(patches.length).toBe(3); // 9 MiB in 8 MiB chunks, and 3 MiB in one
      for (const p of patches) expect(p.checksum).toBe(`sha256 ${p.bodySha256}`);
      const posts = seen.filter((s) => s.method === 'POST');
      expect(posts).toHaveLength(2);
      for (const p of posts) {
        const meta = Object.fromEntries(p.metadata!.split(',').map((kv) => kv.split(' ')).map(([k, v]) => [k, Buffer.from(v ?? '', 'base64').toString()]));
        expect([sha256(a), sha256(b)]).toContain(meta.sha256);
      }
      // The gateway kept the declared digest in the upload's metadata, and its own digest agrees.
      for (const d of docs) expect((await uploadStatus(d.uploadUrl)).metadata.sha256).toBe(d.sha256);
    } finally {
      await new Promise<void>((resolve) => recorder.close(() => resolve()));
    }
  });

  it('fails with exit 1 and one error line for a missing file; the other files still upload', async () => {
    const { dir, xdg } = await cliHome();
    await randomFile(join(dir, 'ok.bin'), 1000);
    const run = await runCli(['upload', join(dir, 'missing.bin'), join(dir, 'ok.bin'), '--owner', 'partial'], { UGW_SERVER: gw.url, XDG_CONFIG_HOME: xdg });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^models\/partial\/ok\.bin sha256:[0-9a-f]{64}\n$/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^ugw: ENOENT: .*missing\.bin: no such file/);
  });
});
