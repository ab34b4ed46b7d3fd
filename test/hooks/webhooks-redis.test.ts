/**
 * Two gateways on one Redis (s3+s3 on the test Ceph RGW, the outbox in Redis): every
 * event is delivered, and each delivery by one of them only — the receiver counts the
 * requests per webhook-id. Uploads alternate between the gateways, and each keeps
 * polling the shared outbox. And a gateway killed in the middle of an attempt: the
 * other one takes the delivery over once its lease ends.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupsAfterAll } from '../gateway/crash-kit.ts';
import { startGateway } from '../support/gateway.ts';
import { redisUrl } from '../support/services.ts';
import { createUpload, pairingEnv, patch, raw, uniqueName } from '../gateway/pairings.ts';
import { hooksYaml, newSecret, Receiver, verified } from './receiver.ts';

describe('webhooks with two gateways on one Redis (s3+s3)', () => {
  const secret = newSecret();
  let receiver: Receiver;
  let gateways: Array<Awaited<ReturnType<typeof startGateway>>> = [];
  // The first attempt of every delivery is answered 500, so that retries race between the gateways too.
  const seen = new Map<string, number>();

  beforeAll(async () => {
    receiver = await Receiver.start((r) => {
      const id = String(r.headers['webhook-id']);
      const n = (seen.get(id) ?? 0) + 1;
      seen.set(id, n);
      return { status: n === 1 ? 500 : 200, delayMs: 30 };
    });
    const env = { ...(await pairingEnv('s3+s3')), REDIS_URL: redisUrl() };
    const yaml = hooksYaml({
      webhooks: [{ url: `${receiver.url}/shared`, events: ['upload.created', 'upload.finished', 'object.deleted'], secret }],
      retry: { initialDelay: '100ms', maxDelay: '200ms' },
    });
    gateways = [await startGateway({ env, yaml }), await startGateway({ env, yaml })];
  });
  afterAll(async () => {
    for (const gw of gateways) await gw.close();
    await receiver?.stop();
  });

  it('delivers each event, and each by one gateway: two attempts per webhook-id (a 500, then a 200), never more', async () => {
    const uploads: string[] = [];
    for (let i = 0; i < 6; i++) {
      const gw = gateways[i % 2]!;
      const data = Buffer.from(`model ${i}`);
      const { url, id } = await createUpload(gw.url, { length: data.length, metadata: { filename: uniqueName('redis'), owner: 'team' } });
      // The last byte goes to the other gateway: finalized there, recorded in the same outbox.
      const other = gateways[(i + 1) % 2]!;
      const res = await patch(url.replace(gw.url, other.url), 0, data);
      expect(res.status, res.text).toBe(204);
      uploads.push(id);
    }
    const key = decodeURIComponent(String((await raw(`${gateways[0]!.url}/api/objects?prefix=models/team/`)).json.objects[0].key));
    expect((await raw(`${gateways[1]!.url}/api/objects/${key}`, { method: 'DELETE' })).status).toBe(204);

    const expected = uploads.length * 2 + 1;
    const delivered = () => [...seen.values()].filter((n) => n >= 2).length;
    await receiver.waitFor(() => delivered() >= expected, 30_000, `${expected} deliveries`);
    await new Promise((r) => setTimeout(r, 1500)); // time for a duplicate to show up, if any would
    expect(seen.size).toBe(expected);
    for (const [id, n] of seen) expect(n, `attempts of ${id}`).toBe(2);
    for (const id of uploads) {
      const types = receiver.received.filter((r) => r.headers['webhook-id'] && verified(secret, r).data.uploadId === id).map((r) => verified(secret, r).type);
      expect(types.sort()).toEqual(['upload.created', 'upload.created', 'upload.finished', 'upload.finished']);
    }
    // Both gateways worked the shared outbox (deliveries are claimed by whoever polls first).
    const perGateway = await Promise.all(
      gateways.map(async (gw) => {
        const text = (await raw(`${gw.url}/metrics`)).text;
        return Number(/gateway_webhook_deliveries_total\{result="delivered"\} (\d+)/.exec(text)?.[1] ?? 0);
      }),
    );
    expect(perGateway[0]! + perGateway[1]!).toBe(expected);
    const listed = await raw(`${gateways[0]!.url}/api/events?status=delivered&limit=100`);
    expect(listed.json.events.length).toBeGreaterThanOrEqual(expected);
  });
});

describe('a gateway dies in the middle of a delivery (s3+s3, Redis)', () => {
  const cleanups = cleanupsAfterAll();

  it('another gateway takes the delivery over when its lease ends, with the same webhook-id', async () => {
    const secret = newSecret();
    // The first attempt hangs (the gateway making it is killed meanwhile); any later one is answered.
    const receiver = await Receiver.start((_r, i) => (i === 0 ? { status: 200, delayMs: 60_000 } : { status: 200 }));
    cleanups.push(() => receiver.stop());
    const env = { ...(await pairingEnv('s3+s3')), REDIS_URL: redisUrl() };
    const yaml = hooksYaml({ webhooks: [{ url: `${receiver.url}/takeover`, events: ['upload.finished'], secret }] }).replace('timeout: 2s', 'timeout: 1s');
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-hooks-takeover-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const first = await startGateway({ child: true, env, yaml, dataDir });
    cleanups.push(() => first.kill9());

    const { url, id } = await createUpload(first.url, { length: 8, metadata: { filename: uniqueName('takeover'), owner: 'team' } });
    expect((await patch(url, 0, Buffer.from('takeover'))).status).toBe(204);
    await receiver.waitFor(() => receiver.received.length === 1, 10_000, 'the first attempt');
    await first.kill9();
    const killedAt = Date.now();

    const second = await startGateway({ env, yaml });
    cleanups.push(() => second.close());
    await receiver.waitFor(() => receiver.received.length === 2, 20_000, 'the attempt of the second gateway');
    const [hung, taken] = receiver.received;
    expect(taken!.headers['webhook-id']).toBe(hung!.headers['webhook-id']);
    expect(verified(secret, taken!).data.uploadId).toBe(id);
    // Not before the lease (2 × 1 s + 5 s from the claim) ended.
    expect(taken!.at - hung!.at).toBeGreaterThanOrEqual(6500);
    expect(Date.now() - killedAt).toBeLessThan(20_000);
    const delivered = await raw(`${second.url}/api/events?status=delivered&limit=1000`);
    expect(delivered.json.events.some((e: any) => e.webhookId === taken!.headers['webhook-id'] && e.attempts === 1)).toBe(true);
  });
});
