/**
 * The gateway process dies inside a creation (POST): the upload's record is flushed beside
 * the tus info (server/tus/index.ts, hashing-datastore.ts create), and the 201 comes only once
 * both are durable. Whatever moment the kill lands on, an upload that was answered 201 is
 * there after a restart, takes its bytes and is finalized once, byte-exact.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { cleanupsAfterAll, readStoredObject } from './crash-kit.ts';
import { encodeMetadata, head, pairingEnv, patch, sha256Hex, tusHeaders, uniqueName as name } from './pairings.ts';

const cleanups = cleanupsAfterAll();

/** A POST creating an upload of `length`; `onSent` runs once the request is handed to the kernel. Resolves with the answer or the error. */
function postWithHook(base: string, length: number, filename: string, onSent: () => void): Promise<{ status: number; location?: string } | Error> {
  return new Promise((resolve) => {
    const headers = tusHeaders({ 'Upload-Length': String(length), 'Upload-Metadata': encodeMetadata({ filename, owner: 'crash' }) });
    const req = httpRequest(`${base}/files`, { method: 'POST', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
      res.on('error', (e) => resolve(e));
    });
    req.on('error', (e) => resolve(e));
    req.end(onSent);
  });
}

describe('crash (file+localfs) inside a creation', () => {
  it('kill -9 at moments inside a POST: every upload answered 201 is there after a restart and is finalized once, byte-exact', { timeout: 120_000 }, async () => {
    const env = await pairingEnv('file+localfs');
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-crash-create-'));
    let gw: GatewayProcess = await startGateway({ child: true, env, dataDir });
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }), () => gw.kill9());
    const size = 64 * 1024;

    // How long a creation takes here: the kills are spread over that window.
    const sentAt = { t: 0 };
    const probe = await postWithHook(gw.url, size, name('probe'), () => (sentAt.t = Date.now()));
    const window = Math.max(1, Date.now() - sentAt.t);
    expect(probe).not.toBeInstanceOf(Error);

    const states: string[] = [];
    for (const fraction of [0, 0.2, 0.4, 0.6, 0.8, 1, 1.5]) {
      const delayMs = Math.round(window * fraction);
      const filename = name(`kill-create-${delayMs}ms`);
      const victim = gw;
      const answer = await postWithHook(victim.url, size, filename, () => setTimeout(() => victim.child.kill('SIGKILL'), delayMs));
      await victim.kill9();
      gw = await startGateway({ child: true, env, dataDir });
      const created = !(answer instanceof Error) && answer.status === 201 && answer.location;
      states.push(`${delayMs}ms: ${answer instanceof Error ? 'no answer' : answer.status}`);
      if (!created) continue; // nothing was acknowledged: nothing to find
      // The answer's upload, on the restarted process (another port: the path is what the client keeps).
      const url = new URL(new URL(answer.location!, victim.url).pathname, gw.url).toString();
      const before = await head(url);
      expect(before.status, `HEAD after the restart (${states.at(-1)})`).toBe(200);
      expect(before.headers['upload-offset']).toBe('0');
      const data = randomBytes(size);
      const done = await patch(url, 0, data);
      expect(done.status, done.text).toBe(204);
      const stored = await readStoredObject(env, dataDir, `models/crash/${filename}`);
      expect(stored.sha256).toBe(sha256Hex(data));
      expect(stored.metadata.sha256).toBe(sha256Hex(data));
    }
    console.info(`[crash create] a POST took ${window} ms; kill -9 after it was sent: ${states.join('; ')}`);
  });
});
