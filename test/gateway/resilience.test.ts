/**
 * The network breaks under an upload: connections cut mid-PATCH at random points, and
 * a PATCH whose body stops arriving (a half-dead connection). Real sockets only: the
 * client talks to a TCP proxy (test/support/tcp-proxy.ts) in front of the gateway.
 * Each test runs on the file+localfs and s3+s3 pairings (s3: the Ceph RGW started by
 * the vitest globalSetup, a fresh bucket per file).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { cleanupsAfterAll, CRASH_PAIRINGS as PAIRINGS, readStoredObject, silentPatch, sleep, tusClientUpload } from './crash-kit.ts';
import { createUpload, head as headUpload, MiB, pairingEnv, patch as patchUpload, sha256Hex, uniqueName, type RawResponse } from './pairings.ts';

const KiB = 1024;

// ---------------------------------------------------------------------------------------------
// Helpers (the ones crash.test.ts uses too are in crash-kit.ts and pairings.ts)

/** tus-js-client's retries here: at once, then backing off slowly; every cut costs one retry. */
const RETRY_DELAYS = Array.from({ length: 60 }, (_, i) => i * 100);

/** Resident set size (bytes) and CPU time (seconds, user+system) of a process, from /proc. */
async function procUsage(pid: number): Promise<{ rss: number; cpu: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the comm field; clock ticks of 1/100 s on Linux.
  const cpu = (Number(fields[11]) + Number(fields[12])) / 100;
  return { rss, cpu };
}

const cleanups = cleanupsAfterAll();

// ---------------------------------------------------------------------------------------------

describe.each(PAIRINGS)('resilience (%s)', (pairing) => {
  // fin: an orderly close, the gateway reads every forwarded byte, then EOF mid-body;
  // rst: a TCP reset, what sat in the kernel's buffers is lost.
  it.each(['fin', 'rst'] as const)('resumes after the connection is cut (%s) at random points mid-PATCH, never going back, ending byte-exact', { timeout: 120_000 }, async (mode) => {
    const env = await pairingEnv(pairing);
    const gw = await startGateway({ env });
    cleanups.push(() => gw.close(), () => rm(gw.dataDir, { recursive: true, force: true }));
    const proxy = await startTcpProxy({ port: Number(new URL(gw.url).port) });
    cleanups.push(() => proxy.close());

    const size = 48 * MiB;
    const data = randomBytes(size);
    const filename = uniqueName('cuts');
    const wantedCuts = 12;
    const cutPoints: number[] = [];
    // Each cut falls after a random 256 KiB..3 MiB of client → gateway bytes: 12 cuts
    // happen long before the 48 MiB are through, each of them inside a PATCH body or
    // (rarely) the request that precedes it.
    const arm = () => {
      const n = randomInt(256 * KiB, 3 * MiB);
      proxy.cutAfter(n, { mode }).then(() => {
        cutPoints.push(proxy.bytesUp);
        if (cutPoints.length < wantedCuts) arm();
      });
    };
    arm();

    const log = await tusClientUpload({ endpoint: `${proxy.url}/files/` }, data, {
      chunkSize: 64 * MiB, // one long PATCH per attempt
      metadata: { filename, filetype: 'application/octet-stream', owner: 'resilience' },
      retryDelays: RETRY_DELAYS,
    }).done;
    proxy.cancelCut();

    expect(cutPoints.length).toBe(wantedCuts);
    console.info(`[resilience ${pairing}] ${mode}: ${wantedCuts} cuts, ${log.patchOffsets.length} PATCHes at offsets ${log.patchOffsets.map((o) => (o / MiB).toFixed(1)).join(', ')} MiB; ${((proxy.bytesUp - size) / KiB).toFixed(0)} KiB sent beyond the file`);
    // The offset only moves forward: each PATCH starts where the server says it is (never below
    // what it had confirmed, never back at 0 once bytes were stored), and the server's offsets never drop.
    expect(log.patchOffsets.length).toBeGreaterThanOrEqual(wantedCuts);
    log.patchOffsets.forEach((o, i) => expect(o, `PATCH #${i}`).toBe(log.confirmedBeforePatch[i]));
    for (let i = 1; i < log.serverOffsets.length; i++) expect(log.serverOffsets[i]!).toBeGreaterThanOrEqual(log.serverOffsets[i - 1]!);
    expect(log.serverOffsets.at(-1)).toBe(size);
    // No byte is skipped and none is sent twice without need. With orderly cuts (FIN) every
    // byte the proxy forwarded reached the gateway; @tus/server still drops what sits in its
    // own stream buffers when the request errors (30–120 KiB per cut, the same on a bare
    // @tus/server), so allow that much per cut — a lost S3 part (8 MiB) or a restart from
    // zero (48 MiB) is far beyond it. A reset also drops what sat in the kernel's socket
    // buffers (a few MiB on loopback).
    const overhead = proxy.bytesUp - size;
    const allowed = wantedCuts * (mode === 'fin' ? 512 * KiB : 6 * MiB);
    expect(overhead, `bytes sent beyond the file size (cuts at ${cutPoints.join(', ')})`).toBeLessThan(allowed);

    const key = `models/resilience/${filename}`;
    expect(log.lastResponse!.getHeader('Object-Key')).toBe(key);
    const done = await headUpload(log.url!.replace(proxy.url, gw.url));
    expect(done.status).toBe(200);
    expect(done.headers['upload-offset']).toBe(String(size));
    expect(done.headers['object-key']).toBe(key);

    const stored = await readStoredObject(env, gw.dataDir, key);
    expect(stored.size).toBe(size);
    expect(stored.sha256).toBe(sha256Hex(data));
    expect(stored.metadata.sha256).toBe(sha256Hex(data));
    expect(stored.metadata.uploadid ?? stored.metadata.uploadId).toBe(log.url!.slice(log.url!.lastIndexOf('/') + 1));
  });

  it('a PATCH whose body stops arriving does not block the resume from a new connection, nor make the gateway spin', { timeout: 60_000 }, async () => {
    const env = await pairingEnv(pairing);
    const gw = await startGateway({ child: true, env });
    cleanups.push(() => gw.kill9(), () => rm(gw.dataDir, { recursive: true, force: true }));
    const pid = gw.child.pid!;

    const size = 12 * MiB;
    const data = randomBytes(size);
    const filename = uniqueName('halfdead');
    const { url: uploadUrl } = await createUpload(gw.url, { length: size, metadata: { filename, owner: 'resilience' } });
    const sent = 3 * MiB + 12_345;
    const silent = await silentPatch(uploadUrl, 0, size, data.subarray(0, sent));
    cleanups.push(async () => silent.destroy());
    await sleep(500); // the gateway has the bytes and holds the upload's lock

    // The client gives up on the dead connection and resumes from a new one (tus-js-client: HEAD, then PATCH).
    const before = await procUsage(pid);
    const samples: Array<{ rss: number; cpu: number }> = [];
    let waiting = true;
    const sampler = (async () => {
      while (waiting) {
        samples.push(await procUsage(pid));
        await sleep(100);
      }
    })();
    const t0 = Date.now();
    const head = await headUpload(uploadUrl);
    const headMs = Date.now() - t0;
    waiting = false;
    await sampler;
    const after = await procUsage(pid);

    expect(head.status, head.text).toBe(200);
    expect(headMs, 'HEAD waited for the silent PATCH').toBeLessThan(8_000);
    const offset = Number(head.headers['upload-offset']);
    // Every byte that arrived before the silence is kept.
    expect(offset).toBe(sent);
    // Waiting for the lock costs nothing: no runaway memory (docs/tus-server-notes.md #13: +300 MiB in 3 s) and no busy core.
    const peakRss = Math.max(...samples.map((s) => s.rss), after.rss);
    expect(peakRss - before.rss, `RSS grew from ${before.rss} to ${peakRss}`).toBeLessThan(48 * MiB);
    const cpuShare = (after.cpu - before.cpu) / (headMs / 1000);
    console.info(`[resilience ${pairing}] HEAD behind a silent PATCH answered in ${headMs} ms; gateway RSS ${(before.rss / MiB).toFixed(0)} → peak ${(peakRss / MiB).toFixed(0)} MiB; CPU ${(cpuShare * 100).toFixed(0)}% of a core while waiting`);
    expect(cpuShare, `CPU share while waiting ${cpuShare.toFixed(2)}`).toBeLessThan(0.25);

    const t1 = Date.now();
    const rest = await patchUpload(uploadUrl, offset, data.subarray(offset));
    expect(rest.status, rest.text).toBe(204);
    expect(Date.now() - t1).toBeLessThan(15_000);
    expect(rest.headers['upload-offset']).toBe(String(size));
    const key = `models/resilience/${filename}`;
    expect(rest.headers['object-key']).toBe(key);

    const stored = await readStoredObject(env, gw.dataDir, key);
    expect(stored.sha256).toBe(sha256Hex(data));
    expect(stored.metadata.sha256).toBe(sha256Hex(data));
  });

  it('a silent PATCH is cut after server.requestTimeout and its lock released, with its bytes kept', { timeout: 60_000 }, async () => {
    const env = await pairingEnv(pairing);
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-silent-'));
    const gw: GatewayProcess = await startGateway({ child: true, env, yaml: 'server:\n  requestTimeout: 2s\n', dataDir });
    cleanups.push(() => gw.kill9(), () => rm(dataDir, { recursive: true, force: true }));

    const size = 10 * MiB;
    const data = randomBytes(size);
    const filename = uniqueName('silent');
    const { url: uploadUrl } = await createUpload(gw.url, { length: size, metadata: { filename, owner: 'resilience' } });
    const sent = 2 * MiB + 777;
    const silent = await silentPatch(uploadUrl, 0, size, data.subarray(0, sent));
    const closedAt = new Promise<number>((resolve) => silent.once('close', () => resolve(Date.now())));
    const t0 = Date.now();
    cleanups.push(async () => silent.destroy());

    // Nobody else asks for the upload: the gateway itself must give up on the silent body.
    const closed = await Promise.race([closedAt, sleep(10_000).then(() => undefined)]);
    expect(closed, 'the gateway never closed the silent PATCH').toBeDefined();
    expect(closed! - t0).toBeGreaterThanOrEqual(1_500);

    // The lock is free: a HEAD is answered at once, with every byte that arrived.
    const t1 = Date.now();
    const head = await headUpload(uploadUrl);
    expect(Date.now() - t1).toBeLessThan(1_000);
    expect(head.status).toBe(200);
    const offset = Number(head.headers['upload-offset']);
    expect(offset).toBe(sent);

    const rest = await patchUpload(uploadUrl, offset, data.subarray(offset));
    expect(rest.status, rest.text).toBe(204);
    const stored = await readStoredObject(env, dataDir, `models/resilience/${filename}`);
    expect(stored.sha256).toBe(sha256Hex(data));
    expect(stored.metadata.sha256).toBe(sha256Hex(data));
  });
});

describe('resilience (s3+s3), slow finalization', () => {
  it('a finalization that takes longer than server.requestTimeout still answers the final PATCH', { timeout: 60_000 }, async () => {
    // server.requestTimeout is there to cut bodies that stop arriving; while the gateway itself
    // works on the last PATCH (an S3 copy of a 20 GiB object takes minutes) the client waits
    // in silence, and that must not cost it the answer.
    const env = await pairingEnv('s3+s3');
    const endpoint = new URL(env.S3_ENDPOINT!);
    const s3Proxy = await startTcpProxy({ host: endpoint.hostname, port: Number(endpoint.port) });
    cleanups.push(() => s3Proxy.close());
    const gw = await startGateway({ env: { ...env, S3_ENDPOINT: s3Proxy.url }, yaml: 'server:\n  requestTimeout: 1s\n' });
    cleanups.push(() => gw.close(), () => rm(gw.dataDir, { recursive: true, force: true }));

    const size = 6 * MiB;
    const data = randomBytes(size);
    const filename = uniqueName('slow-finalize');
    const { url: uploadUrl } = await createUpload(gw.url, { length: size, metadata: { filename, owner: 'resilience' } });
    // The copy into the final key is held for 2.5 s: finalization outlasts the 1 s timeout.
    const held = s3Proxy.holdOn('x-amz-copy-source:');
    const answer = patchUpload(uploadUrl, 0, data).catch((err: Error) => err);
    await held;
    await sleep(2_500);
    s3Proxy.releaseAll();
    const res = await answer;
    expect(res instanceof Error ? `no answer: ${res.message}` : res.status).toBe(204);
    const key = `models/resilience/${filename}`;
    expect((res as RawResponse).headers['object-key']).toBe(key);
    const stored = await readStoredObject(env, gw.dataDir, key);
    expect(stored.sha256).toBe(sha256Hex(data));
  });
});

/** For a pairing-independent sanity check of the proxy itself. */
describe('tcp proxy', () => {
  it('forwards bytes, cuts after exactly N bytes, and holds a connection on a pattern', { timeout: 20_000 }, async () => {
    const { createServer } = await import('node:net');
    const received: Buffer[] = [];
    const server = createServer((s) => {
      s.on('data', (d) => received.push(d));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const proxy: TcpProxy = await startTcpProxy({ port: (server.address() as { port: number }).port });
    try {
      const cut = proxy.cutAfter(100_000, { mode: 'fin' });
      const client = connect(proxy.port, '127.0.0.1');
      client.on('error', () => undefined);
      client.write(randomBytes(300_000));
      await cut;
      await sleep(100);
      expect(Buffer.concat(received).length).toBe(100_000);
      expect(proxy.openConnections).toBe(0);

      received.length = 0;
      const held = proxy.holdOn('X-Stop-Here');
      const c2 = connect(proxy.port, '127.0.0.1');
      c2.on('error', () => undefined);
      c2.write('hello ');
      await sleep(50);
      c2.write('x-stop-here: now');
      await held;
      c2.write('more');
      await sleep(100);
      expect(Buffer.concat(received).toString()).toBe('hello ');
      expect(proxy.openConnections).toBe(1);
      c2.destroy();
    } finally {
      await proxy.close();
      server.close();
    }
  });
});
