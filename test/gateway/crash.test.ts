/**
 * The gateway process dies under an upload: kill -9 mid-upload and mid-finalization,
 * then a restart on the same data directory; SIGTERM with a PATCH in flight. The gateway
 * runs as a child process (`startGateway({ child: true })`); the client keeps one URL across restarts
 * through a TCP proxy whose upstream is switched to the new process.
 * Each test runs on the file+localfs and s3+s3 pairings (s3: the Ceph RGW started by
 * the vitest globalSetup, a fresh bucket per file).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { readJournal } from '../../server/tus/journal.ts';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { makeS3Client } from '../support/services.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { cleanupsAfterAll, CRASH_PAIRINGS as PAIRINGS, readStoredObject, silentPatch, sleep, tusClientUpload } from './crash-kit.ts';
import {
  createUpload,
  head as headUpload,
  MiB,
  pairingEnv,
  patch as patchUpload,
  raw,
  sha256Hex,
  tusHeaders,
  uniqueName as name,
  type RawResponse,
} from './pairings.ts';

// ---------------------------------------------------------------------------------------------
// Helpers (the ones resilience.test.ts uses too are in crash-kit.ts and pairings.ts)

/** tus-js-client's retries here: a few, quickly (a restarted gateway is up within seconds). */
const RETRY_DELAYS = [0, 100, 200, 400, 800, 1000, 1000, 1000];

const cleanups = cleanupsAfterAll();

/**
 * The gateway as a child process on one data directory, restartable, behind a proxy
 * so that upload URLs stay valid across restarts. `extraYaml` is merged into the config.
 */
class GatewayChain {
  gw!: GatewayProcess;
  /** Output of every process started so far, the current one last. */
  readonly outputs: Array<() => string> = [];

  private constructor(
    readonly env: Record<string, string>,
    readonly dataDir: string,
    readonly proxy: TcpProxy,
    private readonly extraYaml: string,
  ) {}

  static async start(env: Record<string, string>, extraYaml = ''): Promise<GatewayChain> {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-crash-'));
    const proxy = await startTcpProxy({ port: 1 });
    const chain = new GatewayChain(env, dataDir, proxy, extraYaml);
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }), () => proxy.close(), () => chain.gw?.kill9());
    await chain.restart();
    return chain;
  }

  /** Starts a (new) process on the same data directory; the previous one must be gone. */
  async restart(): Promise<void> {
    this.gw = await startGateway({ child: true, env: this.env, yaml: this.extraYaml, dataDir: this.dataDir });
    this.outputs.push(this.gw.output);
    this.proxy.setTarget(Number(new URL(this.gw.url).port));
  }

  /** The base URL clients use (the proxy). */
  get url(): string {
    return this.proxy.url;
  }

  /** How many log lines of `event` for `uploadId` each process wrote. */
  events(event: string, uploadId: string): number[] {
    return this.outputs.map(
      (out) =>
        out()
          .split('\n')
          .filter((l) => l.includes(`"event":"${event}"`) && l.includes(`"uploadId":"${uploadId}"`)).length,
    );
  }

  /** The upload's record as the journal on disk holds it now (what a restarted gateway would read). */
  async record(id: string): Promise<{ status: string; key?: string; sha256?: string } | undefined> {
    const json = (await readJournal(join(this.dataDir, 'tus', '.gateway', 'journal'))).get('records')?.get(id);
    return json === undefined ? undefined : JSON.parse(json);
  }
}

const patchHeaders = (offset: number) => tusHeaders({ 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) });

/**
 * A PATCH of `data` at `offset` that calls `onBodySent` once the last byte is handed to
 * the kernel. Resolves with the answer, or with the error when the connection dies.
 */
function patchWithHook(url: string, offset: number, data: Buffer, onBodySent: () => void): Promise<Pick<RawResponse, 'status' | 'headers' | 'text'> | Error> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: 'PATCH', headers: { ...patchHeaders(offset), 'Content-Length': data.length }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', (e) => resolve(e));
    });
    req.on('error', (e) => resolve(e));
    req.end(data, onBodySent);
  });
}

/** The upload is finished: HEAD 200 with Object-Key, and the object holds exactly `data` with its sha256. */
async function expectFinalized(chain: GatewayChain, uploadUrl: string, key: string, data: Buffer): Promise<void> {
  const head = await headUpload(uploadUrl);
  expect(head.status, head.text).toBe(200);
  expect(head.headers['upload-offset']).toBe(String(data.length));
  expect(head.headers['object-key']).toBe(key);
  const stored = await readStoredObject(chain.env, chain.dataDir, key);
  expect(stored.size).toBe(data.length);
  expect(stored.sha256).toBe(sha256Hex(data));
  expect(stored.metadata.sha256).toBe(sha256Hex(data));
}

/** HEAD until it answers 200 (the restarted gateway may still be recovering). */
async function headUntilDone(url: string, timeoutMs: number): Promise<RawResponse> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await headUpload(url);
    if (res.status === 200 && res.headers['object-key']) return res;
    if (Date.now() > until) return res;
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------

describe.each(PAIRINGS)('crash (%s)', (pairing) => {
  it('kill -9 mid-upload: after a restart on the same data tus-js-client resumes the same URL; no acknowledged byte is lost', { timeout: 90_000 }, async () => {
    const chain = await GatewayChain.start(await pairingEnv(pairing));
    const size = 32 * MiB;
    const data = randomBytes(size);
    const filename = name('kill-mid-upload');
    const key = `models/crash/${filename}`;

    // Slow enough (24 MiB/s) that the kill lands inside a PATCH, not between two.
    chain.proxy.throttle(24 * MiB);
    let acknowledged = 0;
    let killed: Promise<void> | undefined;
    const first = tusClientUpload({ endpoint: `${chain.url}/files/` }, data, {
      chunkSize: 8 * MiB,
      metadata: { filename, owner: 'crash' },
      retryDelays: null,
      onPatchDone(offset) {
        acknowledged = Math.max(acknowledged, offset);
        if (acknowledged >= 16 * MiB && !killed) killed = chain.gw.kill9();
      },
    });
    await first.done.then(
      () => expect.unreachable('the upload finished before the kill'),
      () => undefined,
    );
    await killed;
    const uploadUrl = first.upload.url!;
    expect(acknowledged).toBeGreaterThanOrEqual(16 * MiB);
    expect(acknowledged).toBeLessThan(size);

    chain.proxy.throttle(undefined);
    await chain.restart();
    const head = await headUpload(uploadUrl);
    expect(head.status).toBe(200);
    const offsetAfterRestart = Number(head.headers['upload-offset']);
    expect(offsetAfterRestart, 'acknowledged bytes lost').toBeGreaterThanOrEqual(acknowledged);

    const second = tusClientUpload({ uploadUrl }, data, { chunkSize: 64 * MiB, retryDelays: RETRY_DELAYS });
    const result = await second.done;
    expect(result.url).toBe(uploadUrl);
    // It went on from where the server was, never from zero.
    expect(result.headOffsets[0]).toBe(offsetAfterRestart);
    expect(result.patchOffsets[0]).toBe(offsetAfterRestart);
    expect(Math.min(...result.patchOffsets)).toBeGreaterThanOrEqual(acknowledged);
    expect(result.lastResponse.getHeader('Object-Key')).toBe(key);

    await expectFinalized(chain, uploadUrl, key, data);
    const id = uploadUrl.slice(uploadUrl.lastIndexOf('/') + 1);
    expect(chain.events('upload.finalized', id)).toEqual([0, 1]);
  });

  it('kill -9 while the record says "finalizing": after a restart the upload is finalized once, byte-exact', { timeout: 90_000 }, async () => {
    const chain = await GatewayChain.start(await pairingEnv(pairing));
    const size = 64 * MiB;
    let caught: { url: string; id: string; data: Buffer; key: string } | undefined;
    const misses: string[] = [];
    // Watch the gateway's own record of the upload; kill the instant finalization has begun.
    // On a loaded machine the watcher may see it too late: then try again with a new upload.
    for (let attempt = 0; attempt < 3 && !caught; attempt++) {
      if (attempt > 0) await chain.restart();
      const data = randomBytes(size);
      const filename = name('kill-finalizing');
      const { url, id } = await createUpload(chain.url, { length: size, metadata: { filename, owner: 'crash' } });
      let seen: string | undefined;
      let watching = true;
      const victim = chain.gw;
      const watcher = (async () => {
        while (watching) {
          const rec = await chain.record(id);
          if (rec && rec.status !== 'uploading') {
            victim.child.kill('SIGKILL');
            seen = rec.status;
            return;
          }
          await sleep(1);
        }
      })();
      const answer = await patchWithHook(url, 0, data, () => undefined);
      watching = false;
      await watcher;
      await victim.kill9();
      const left = await chain.record(id);
      // The state under test: complete data, a record without 'done', no answer given.
      if (seen === 'finalizing' && answer instanceof Error && left?.status === 'finalizing') caught = { url, id, data, key: `models/crash/${filename}` };
      else misses.push(`saw ${seen}, left ${left?.status}, answer ${answer instanceof Error ? answer.message : answer.status}`);
    }
    expect(caught, `finalization never caught: ${misses.join('; ')}`).toBeDefined();
    const { url, id, data, key } = caught!;

    await chain.restart();
    const head = await headUntilDone(url, 30_000);
    expect(head.status).toBe(200);
    expect(head.headers['object-key']).toBe(key);
    await expectFinalized(chain, url, key, data);
    expect((await chain.record(id))?.status).toBe('done');
    // Finalized once, by the restarted process.
    const finalizedOnce = () => {
      const counts = chain.events('upload.finalized', id);
      expect(counts.at(-1)).toBe(1);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
    };
    finalizedOnce();
    // A client that resumes now learns the upload is done and sends nothing.
    const resumed = tusClientUpload({ uploadUrl: url }, data, { chunkSize: 64 * MiB, retryDelays: RETRY_DELAYS });
    const r = await resumed.done;
    expect(r.patchOffsets).toEqual([]);
    finalizedOnce();
  });

  it('kill -9 at moments right after the last byte was sent: every time the upload ends finalized once, byte-exact', { timeout: 120_000 }, async () => {
    const chain = await GatewayChain.start(await pairingEnv(pairing));
    const size = 20 * MiB;
    // How long the gateway takes from the last byte sent to the answer (the rest of the
    // body in flight, the last S3 part, finalization): the kills are spread over that window.
    const probe = randomBytes(size);
    const probeUpload = await createUpload(chain.url, { length: size, metadata: { filename: name('probe'), owner: 'crash' } });
    let lastByteAt = 0;
    const probeAnswer = await patchWithHook(probeUpload.url, 0, probe, () => (lastByteAt = Date.now()));
    const window = Date.now() - lastByteAt;
    expect(probeAnswer).not.toBeInstanceOf(Error);

    const states: string[] = [];
    for (const fraction of [0, 0.3, 0.6, 0.85, 1.1]) {
      const delayMs = Math.round(window * fraction);
      const data = randomBytes(size);
      const filename = name(`kill-after-${delayMs}ms`);
      const key = `models/crash/${filename}`;
      const { url, id } = await createUpload(chain.url, { length: size, metadata: { filename, owner: 'crash' } });
      const victim = chain.gw;
      const answer = await patchWithHook(url, 0, data, () => setTimeout(() => victim.child.kill('SIGKILL'), delayMs));
      await victim.kill9();
      const rec = await chain.record(id);
      states.push(`${delayMs}ms: ${answer instanceof Error ? 'no answer' : answer.status}, record ${rec?.status ?? 'none'}`);

      await chain.restart();
      // Resume as a client would: HEAD says done (or where to go on), tus-js-client does the rest.
      const resumed = await tusClientUpload({ uploadUrl: url }, data, { chunkSize: 64 * MiB, retryDelays: RETRY_DELAYS }).done;
      expect(resumed.url).toBe(url);
      await expectFinalized(chain, url, key, data);
      const finalized = chain.events('upload.finalized', id).slice(-2);
      expect(finalized[0]! + finalized[1]!, `finalized ${JSON.stringify(finalized)} (${states.at(-1)})`).toBeLessThanOrEqual(1);
      if (rec?.status === 'done') expect(finalized[1]).toBe(0);
      else expect(finalized[1]).toBe(1);
    }
    console.info(`[crash ${pairing}] last byte → answer took ${window} ms; kill -9 after the last byte: ${states.join('; ')}`);
  });

  it('SIGTERM while a PATCH is in flight: the PATCH is answered, the process exits 0, the offset holds', { timeout: 60_000 }, async () => {
    // shutdownTimeout 8 s: far longer than the PATCH needs, short enough to wait out if the exit hangs.
    const chain = await GatewayChain.start(await pairingEnv(pairing), 'server:\n  shutdownTimeout: 8s\n');
    const size = 24 * MiB;
    const data = randomBytes(size);
    const filename = name('sigterm');
    const key = `models/crash/${filename}`;
    const { url } = await createUpload(chain.url, { length: size, metadata: { filename, owner: 'crash' } });

    // 10 MiB over ~1.5 s, on a keep-alive connection as browsers and tus-js-client use.
    const part = 10 * MiB;
    chain.proxy.throttle(7 * MiB);
    const agent = new Agent({ keepAlive: true });
    cleanups.push(async () => agent.destroy());
    const patching = raw(url, { method: 'PATCH', headers: patchHeaders(0), body: data.subarray(0, part), agent });
    await sleep(300);
    const exited = new Promise<number | null>((resolve) => chain.gw.child.once('exit', (code) => resolve(code)));
    const sentAt = Date.now();
    chain.gw.child.kill('SIGTERM');
    // Not accepting any more: soon a new connection to the process is refused.
    const direct = chain.gw.url;
    let refused = false;
    for (const until = Date.now() + 2_000; !refused && Date.now() < until; await sleep(50)) {
      refused = await raw(`${direct}/healthz`).then(
        () => false,
        (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
      );
    }
    expect(refused, 'still accepting connections after SIGTERM').toBe(true);

    const answer = await patching;
    const answeredAt = Date.now();
    expect(answer.status, answer.text).toBe(204);
    expect(answer.headers['upload-offset']).toBe(String(part));
    expect(answeredAt - sentAt).toBeGreaterThan(500); // it really was in flight
    const code = await Promise.race([exited, sleep(15_000).then(() => 'still running')]);
    expect(code, 'exit code after SIGTERM').toBe(0);
    // Once the last request is answered nothing is left to wait for: the exit follows at once,
    // not when server.shutdownTimeout forces the (idle, keep-alive) connection closed.
    expect.soft(Date.now() - answeredAt, 'exit came long after the last request finished').toBeLessThan(2_000);
    expect.soft(chain.gw.output()).not.toContain('shutdown timeout');

    chain.proxy.throttle(undefined);
    await chain.restart();
    const head = await headUpload(url);
    expect(head.headers['upload-offset']).toBe(String(part));
    const rest = await patchUpload(url, part, data.subarray(part));
    expect(rest.status, rest.text).toBe(204);
    await expectFinalized(chain, url, key, data);
  });

  it('SIGTERM while a PATCH body has stopped arriving: exit 0 within server.shutdownTimeout, and the upload completes after restart', { timeout: 60_000 }, async () => {
    const chain = await GatewayChain.start(await pairingEnv(pairing), 'server:\n  shutdownTimeout: 2s\n');
    const size = 12 * MiB;
    const data = randomBytes(size);
    const filename = name('sigterm-silent');
    const key = `models/crash/${filename}`;
    const { url } = await createUpload(chain.url, { length: size, metadata: { filename, owner: 'crash' } });
    const sent = 3 * MiB;
    const socket = await silentPatch(chain.gw.url + new URL(url).pathname, 0, size, data.subarray(0, sent));
    cleanups.push(async () => socket.destroy());
    await sleep(300);

    const exited = new Promise<number | null>((resolve) => chain.gw.child.once('exit', (code) => resolve(code)));
    const t0 = Date.now();
    chain.gw.child.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(15_000).then(() => 'still running')]);
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2_000 + 3_000);

    await chain.restart();
    const head = await headUpload(url);
    expect(head.status).toBe(200);
    const offset = Number(head.headers['upload-offset']);
    // Nothing was acknowledged: any prefix of what was sent may have been kept, never more.
    expect(offset).toBeLessThanOrEqual(sent);
    const rest = await patchUpload(url, offset, data.subarray(offset));
    expect(rest.status, rest.text).toBe(204);
    await expectFinalized(chain, url, key, data);
  });
});

describe('crash (s3+s3), held at a chosen S3 request', () => {
  it('kill -9 after the last part is in S3 but before CompleteMultipartUpload: after a restart the upload completes and is finalized', { timeout: 90_000 }, async () => {
    // @tus/s3-store reports such an upload as complete (its parts add up to the size), but
    // the tus object does not exist until the multipart upload is completed.
    const env = await pairingEnv('s3+s3');
    const endpoint = new URL(env.S3_ENDPOINT!);
    const s3Proxy = await startTcpProxy({ port: Number(endpoint.port), host: endpoint.hostname });
    cleanups.push(() => s3Proxy.close());
    const chain = await GatewayChain.start({ ...env, S3_ENDPOINT: s3Proxy.url });
    const size = 20 * MiB;
    const data = randomBytes(size);
    const filename = name('kill-before-complete');
    const key = `models/crash/${filename}`;
    const { url, id } = await createUpload(chain.url, { length: size, metadata: { filename, owner: 'crash' } });

    const held = s3Proxy.holdOn('<CompleteMultipartUpload');
    const answer = patchWithHook(url, 0, data, () => undefined);
    await Promise.race([held, answer.then(() => expect.unreachable('the PATCH was answered without CompleteMultipartUpload'))]);
    await chain.gw.kill9();
    expect(await answer).toBeInstanceOf(Error);
    s3Proxy.cutAll();

    await chain.restart();
    const resumed = await tusClientUpload({ uploadUrl: url }, data, { chunkSize: 64 * MiB, retryDelays: RETRY_DELAYS }).done;
    expect(resumed.url).toBe(url);
    await expectFinalized(chain, url, key, data);
    expect(chain.events('upload.finalized', id)).toEqual([0, 1]);
  });


  it('kill -9 while part 2 is in flight and part 3 is already in S3: the offset stops at part 1, and the resumed upload is byte-exact', { timeout: 150_000 }, async () => {
    // @tus/s3-store sends a PATCH's parts concurrently and used to count every listed part:
    // parts 1 and 3 read as 12 MiB of 20, a hole the client never refilled.
    const env = await pairingEnv('s3+s3');
    const s3Proxy = await startTcpProxy({ port: Number(new URL(env.S3_ENDPOINT!).port), host: new URL(env.S3_ENDPOINT!).hostname });
    cleanups.push(() => s3Proxy.close());
    const chain = await GatewayChain.start({ ...env, S3_ENDPOINT: s3Proxy.url });
    // Parts of 8 MiB: 1, 2 and 3 whole, 4 the last 4 MiB. The s3 datastore sends several parts
    // of a PATCH at once and the last one after all others: with part 2 held, part 3 still goes.
    const size = 28 * MiB;
    const data = randomBytes(size);
    const filename = name('kill-part-gap');
    const key = `models/crash/${filename}`;
    const { url, id } = await createUpload(chain.url, { length: size, metadata: { filename, owner: 'crash' } });

    const held = s3Proxy.holdOn('partNumber=2&');
    const answer = patchWithHook(url, 0, data, () => undefined);
    await Promise.race([held, answer.then(() => expect.unreachable('the PATCH was answered with part 2 held'))]);
    const s3 = makeS3Client();
    cleanups.push(async () => s3.destroy());
    const tusKey = `.tus/${id}`;
    const listed = async () => {
      const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: env.S3_BUCKET, Prefix: tusKey }));
      const uploadId = uploads.Uploads?.find((u) => u.Key === tusKey)?.UploadId;
      if (!uploadId) return [];
      const parts = await s3.send(new ListPartsCommand({ Bucket: env.S3_BUCKET, Key: tusKey, UploadId: uploadId }));
      return (parts.Parts ?? []).map((p) => p.PartNumber);
    };
    for (const until = Date.now() + 30_000; !(await listed()).includes(3); await sleep(100)) {
      if (Date.now() > until) expect.unreachable(`part 3 never reached S3 (parts ${JSON.stringify(await listed())})`);
    }
    expect(await listed()).toEqual([1, 3]);
    await chain.gw.kill9();
    expect(await answer).toBeInstanceOf(Error);
    s3Proxy.cutAll();
    s3Proxy.releaseAll();

    await chain.restart();
    const before = await headUpload(url);
    expect(before.status, before.text).toBe(200);
    expect(before.headers['upload-offset']).toBe(String(8 * MiB));
    const resumed = await tusClientUpload({ uploadUrl: url }, data, { chunkSize: 64 * MiB, retryDelays: RETRY_DELAYS }).done;
    expect(resumed.url).toBe(url);
    await expectFinalized(chain, url, key, data);
    expect(chain.events('upload.finalized', id)).toEqual([0, 1]);
  });

  it('kill -9 while the CopyObject into the final key is in flight: after a restart the upload is finalized once', { timeout: 90_000 }, async () => {
    const env = await pairingEnv('s3+s3');
    // The gateway talks to RGW through a proxy that freezes the copy request when it sees it.
    const s3Proxy = await startTcpProxy({ port: Number(new URL(env.S3_ENDPOINT!).port), host: new URL(env.S3_ENDPOINT!).hostname });
    cleanups.push(() => s3Proxy.close());
    const chain = await GatewayChain.start({ ...env, S3_ENDPOINT: s3Proxy.url });
    const size = 20 * MiB;
    const data = randomBytes(size);
    const filename = name('kill-mid-copy');
    const key = `models/crash/${filename}`;
    const { url, id } = await createUpload(chain.url, { length: size, metadata: { filename, owner: 'crash' } });

    const held = s3Proxy.holdOn('x-amz-copy-source:');
    const answer = patchWithHook(url, 0, data, () => undefined);
    await Promise.race([held, answer.then(() => expect.unreachable('the PATCH was answered without any copy request'))]);
    const rec = await chain.record(id);
    expect(rec?.status).toBe('finalizing');
    await chain.gw.kill9();
    expect(await answer).toBeInstanceOf(Error);
    s3Proxy.cutAll();

    await chain.restart();
    const head = await headUntilDone(url, 30_000);
    expect(head.status).toBe(200);
    expect(head.headers['object-key']).toBe(key);
    await expectFinalized(chain, url, key, data);
    expect(chain.events('upload.finalized', id)).toEqual([0, 1]);
  });
});
