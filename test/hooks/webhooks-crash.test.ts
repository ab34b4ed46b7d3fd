/**
 * Nothing acknowledged is lost: the gateway (a child process) answers the final PATCH,
 * the webhook receiver is down, the gateway is killed with SIGKILL before it could
 * deliver — and after a restart on the same data directory the event arrives, signed,
 * with the webhook-id it was recorded with. On file+localfs and s3+s3 (no Redis: the
 * outbox is the fsynced files beside the upload records).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { cleanupsAfterAll, CRASH_PAIRINGS } from '../gateway/crash-kit.ts';
import { createUpload, pairingEnv, patch, sha256Hex, uniqueName } from '../gateway/pairings.ts';
import { hooksYaml, newSecret, Receiver, verified } from './receiver.ts';

const cleanups = cleanupsAfterAll();

for (const pairing of CRASH_PAIRINGS) {
  describe(`webhooks survive kill -9 (${pairing})`, () => {
    it('delivers upload.finished after a restart when the gateway died after answering the final PATCH', async () => {
      const secret = newSecret();
      const receiver = await Receiver.start(() => ({ status: 200 }));
      cleanups.push(() => receiver.stop());
      await receiver.stop(); // down when the upload finishes: the first attempts are refused
      const env = await pairingEnv(pairing);
      const dataDir = await mkdtemp(join(tmpdir(), 'gw-hooks-crash-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const yaml = hooksYaml({ webhooks: [{ url: `${receiver.url}/in`, events: ['upload.finished'], secret }], retry: { initialDelay: '200ms', maxDelay: '300ms' } });
      let gw: GatewayProcess = await startGateway({ child: true, env, yaml, dataDir });
      cleanups.push(() => gw.kill9());

      const data = Buffer.from('weights '.repeat(5000));
      const name = uniqueName('crash');
      const { url, id } = await createUpload(gw.url, { length: data.length, metadata: { filename: name, owner: 'alice' } });
      const done = await patch(url, 0, data);
      expect(done.status, done.text).toBe(204);
      await gw.kill9();

      // The event was on disk when the answer left: one pending delivery, not yet delivered.
      const pending = await readdir(join(dataDir, 'tus', '.gateway', 'outbox', 'pending'));
      expect(pending.filter((f) => f.endsWith('.json'))).toHaveLength(1);
      expect(receiver.received).toHaveLength(0);

      await receiver.listen();
      gw = await startGateway({ child: true, env, yaml, dataDir });
      await receiver.waitFor(() => receiver.received.length > 0, 20_000, 'the event after the restart');
      const got = receiver.received[0]!;
      expect(`${got.headers['webhook-id']}.json`).toBe(pending.find((f) => f.endsWith('.json')));
      expect(verified(secret, got)).toMatchObject({
        type: 'upload.finished',
        data: { uploadId: id, key: `models/alice/${name}`, size: data.length, sha256: sha256Hex(data), owner: 'alice' },
      });
      // Delivered once: nothing more comes, and the outbox has it as delivered.
      await new Promise((r) => setTimeout(r, 800));
      expect(receiver.received).toHaveLength(1);
      expect((await readdir(join(dataDir, 'tus', '.gateway', 'outbox', 'pending'))).filter((f) => f.endsWith('.json'))).toEqual([]);
      expect(gw.output()).toMatch(/"event":"webhook.delivery".*"result":"delivered"/);
      await gw.stop();
    });
  });
}
