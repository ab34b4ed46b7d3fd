/**
 * Webhooks from a gateway in this process to real HTTP receivers started here: every
 * event in the Standard Webhooks format, signed with each endpoint's own secret and
 * verified with standardwebhooks; retries with the same webhook-id; a receiver that
 * never answers 2xx is given up and listed by GET /api/events?status=failed; a slow
 * receiver does not slow uploads. On file+localfs and s3+s3.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../support/gateway.ts';
import { createUpload, metricValue, objectPath, patch, startPairingGateway, raw, sha256Hex, tusHeaders, uniqueName } from '../gateway/pairings.ts';
import { hooksYaml, newSecret, Receiver, verified, type Received } from './receiver.ts';

const ALL = ['upload.created', 'upload.finished', 'upload.failed', 'upload.terminated', 'upload.expired', 'object.deleted'];
const idOf = (r: Received) => String(r.headers['webhook-id']);
const bodyOf = (r: Received) => JSON.parse(r.body) as { type: string; data: Record<string, any> };
const forUpload = (rs: Received[], uploadId: string) => rs.filter((r) => bodyOf(r).data.uploadId === uploadId);

async function upload(base: string, data: Buffer, metadata: Record<string, string>) {
  const { url, id } = await createUpload(base, { length: data.length, metadata });
  const res = await patch(url, 0, data);
  expect(res.status, res.text).toBe(204);
  return { url, id, key: decodeURIComponent(String(res.headers['object-key'])) };
}

for (const pairing of ['file+localfs', 's3+s3'] as const) {
  describe(`webhooks (${pairing})`, () => {
    const secretA = newSecret();
    const secretB = newSecret();
    const secretSlow = newSecret();
    let a: Receiver;
    let b: Receiver;
    let slow: Receiver;
    let gw: Awaited<ReturnType<typeof startGateway>>;
    const flakyFailures = 3;
    let slowDelay = 5000;

    beforeAll(async () => {
      // /flaky answers 500 to the first three attempts of each webhook-id, then 200.
      a = await Receiver.start((r) => {
        if (r.path !== '/flaky') return { status: 200 };
        const before = a.received.filter((x) => x.path === '/flaky' && idOf(x) === idOf(r)).length - 1;
        return { status: before < flakyFailures ? 500 : 200 };
      });
      b = await Receiver.start(() => ({ status: 204 }));
      slow = await Receiver.start(() => ({ status: 200, delayMs: slowDelay }));
      const yaml = hooksYaml({
        webhooks: [
          { url: `${a.url}/all`, events: ALL, secret: secretA },
          { url: `${b.url}/deleted?token=abc`, events: ['object.deleted'], secret: secretB },
          { url: `${a.url}/flaky`, events: ['upload.finished'], secret: secretA },
          { url: `${slow.url}/slow`, events: ['upload.created', 'upload.finished'], secret: secretSlow },
        ],
        retry: { initialDelay: '200ms', maxDelay: '400ms', maxAge: '1h' },
      });
      gw = await startPairingGateway(pairing, { yaml });
    });
    afterAll(async () => {
      await gw?.close();
      await Promise.all([a?.stop(), b?.stop(), slow?.stop()]);
    });

    it('sends upload.created and upload.finished signed with the endpoint secret, in the Standard Webhooks format', async () => {
      const data = Buffer.from('model bytes '.repeat(1000));
      const name = uniqueName('signed');
      const { id, key } = await upload(gw.url, data, { filename: name, owner: 'alice' });
      await a.waitFor(() => forUpload(a.ofType('upload.finished'), id).some((r) => r.path === '/all'));
      const [created] = forUpload(a.ofType('upload.created'), id);
      const [finished] = forUpload(a.ofType('upload.finished'), id).filter((r) => r.path === '/all');
      for (const r of [created!, finished!]) {
        expect(r.headers['webhook-id']).toMatch(/^msg_[A-Za-z0-9_-]+$/);
        expect(r.headers['webhook-timestamp']).toMatch(/^\d{10}$/);
        expect(r.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
        expect(r.headers['content-type']).toBe('application/json');
        // The signature verifies with this endpoint's secret, and not with another's.
        expect(() => verified(secretA, r)).not.toThrow();
        expect(() => verified(secretB, r)).toThrow();
      }
      expect(verified(secretA, created!)).toMatchObject({ type: 'upload.created', data: { uploadId: id, key, size: data.length, owner: 'alice' } });
      const body = verified(secretA, finished!);
      expect(body.type).toBe('upload.finished');
      expect(Date.parse(body.timestamp)).toBeGreaterThan(Date.now() - 60_000);
      expect(body.data).toEqual({
        uploadId: id,
        key: `models/alice/${name}`,
        size: data.length,
        sha256: sha256Hex(data),
        owner: 'alice',
        metadata: { filename: name, owner: 'alice' },
      });
      // An endpoint gets only the events it asked for.
      expect(forUpload(b.received, id)).toEqual([]);
    });

    it('retries a receiver that answers 500 three times, with the same webhook-id, until it answers 200', async () => {
      const delivered = await metricValue(gw.url, 'gateway_webhook_deliveries_total');
      const { id } = await upload(gw.url, Buffer.from('flaky'), { filename: uniqueName('flaky'), owner: 'carol' });
      await a.waitFor(() => forUpload(a.received.filter((r) => r.path === '/flaky'), id).length >= flakyFailures + 1, 20_000, 'four attempts');
      await new Promise((r) => setTimeout(r, 1000)); // no fifth attempt after the 200
      const attempts = forUpload(a.received.filter((r) => r.path === '/flaky'), id);
      expect(attempts).toHaveLength(flakyFailures + 1);
      expect(new Set(attempts.map(idOf)).size).toBe(1);
      for (const r of attempts) expect(verified(secretA, r).type).toBe('upload.finished');
      // Each retry comes after a back-off (200 ms doubling, capped at 400 ms, with jitter ≥ half of it).
      for (let i = 1; i < attempts.length; i++) expect(attempts[i]!.at - attempts[i - 1]!.at).toBeGreaterThanOrEqual(90);
      expect(await metricValue(gw.url, 'gateway_webhook_deliveries_total')).toBeGreaterThanOrEqual(delivered + flakyFailures + 1);
      const metrics = (await raw(`${gw.url}/metrics`)).text;
      expect(metrics).toMatch(/gateway_webhook_deliveries_total\{result="failed"\} [1-9]/);
      expect(metrics).toMatch(/gateway_webhook_deliveries_total\{result="delivered"\} [1-9]/);
      expect(metrics).toMatch(/gateway_webhook_oldest_pending_seconds \d/);
    });

    it('sends object.deleted on DELETE /api/objects/{key} and upload.terminated on a tus DELETE', async () => {
      const { key } = await upload(gw.url, Buffer.from('to delete'), { filename: uniqueName('gone'), owner: 'dave' });
      const del = await raw(`${gw.url}${objectPath(key)}`, { method: 'DELETE' });
      expect(del.status).toBe(204);
      await b.waitFor(() => b.received.some((r) => bodyOf(r).data.key === key), 10_000, 'object.deleted');
      const got = b.received.find((r) => bodyOf(r).data.key === key)!;
      expect(got.path).toBe('/deleted?token=abc');
      expect(verified(secretB, got)).toMatchObject({ type: 'object.deleted', data: { key } });

      const { url, id } = await createUpload(gw.url, { length: 100, metadata: { filename: uniqueName('term'), owner: 'dave' } });
      await patch(url, 0, Buffer.alloc(40, 1));
      const term = await raw(url, { method: 'DELETE', headers: tusHeaders() });
      expect(term.status, term.text).toBe(204);
      await a.waitFor(() => forUpload(a.ofType('upload.terminated'), id).length > 0, 10_000, 'upload.terminated');
      expect(verified(secretA, forUpload(a.ofType('upload.terminated'), id)[0]!).data).toMatchObject({ uploadId: id, owner: 'dave', size: 100, offset: 40 });
    });

    it('a receiver that answers slowly does not slow uploads or other endpoints down', async () => {
      const fiveUploads = async (label: string) => {
        const started = Date.now();
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await upload(gw.url, Buffer.from(`${label} ${i}`), { filename: uniqueName(label), owner: 'erin' })).id);
        return { elapsed: Date.now() - started, ids };
      };
      slowDelay = 0;
      const fast = await fiveUploads('fast');
      slowDelay = 5000;
      const slowed = await fiveUploads('slowed');
      // Each of the second five's events waits 5 s at the slow receiver (cut after 2 s); the uploads do not.
      expect(slowed.elapsed).toBeLessThan(fast.elapsed * 2 + 1500);
      // The other endpoint has all its events while the slow one is still being waited for.
      await a.waitFor(() => slowed.ids.every((id) => forUpload(a.ofType('upload.finished'), id).some((r) => r.path === '/all')), 3000, 'the fast endpoint');
      expect(slow.received.length).toBeGreaterThan(0);
    });
  });
}

describe('webhooks: given up, expiry and failure (file+localfs)', () => {
  const secret = newSecret();
  let dead: Receiver;
  let gw: Awaited<ReturnType<typeof startGateway>>;

  beforeAll(async () => {
    dead = await Receiver.start(() => ({ status: 503 }));
    const yaml =
      hooksYaml({ webhooks: [{ url: `${dead.url}/dead`, events: ALL, secret }], retry: { initialDelay: '100ms', maxDelay: '200ms', maxAge: '1500ms' } }) +
      'tus:\n  expiration: 1s\n  cleanupInterval: 300ms\n';
    gw = await startPairingGateway('file+localfs', { yaml });
  });
  afterAll(async () => {
    await gw?.close();
    await dead?.stop();
  });

  it('gives an event up after retry.maxAge, keeps it, and lists it in GET /api/events?status=failed', async () => {
    const { id } = await createUpload(gw.url, { length: 5, metadata: { filename: uniqueName('dead'), owner: 'frank' } });
    const until = Date.now() + 15_000;
    let failed: any[] = [];
    while (Date.now() < until) {
      const res = await raw(`${gw.url}/api/events?status=failed`);
      expect(res.status).toBe(200);
      failed = (res.json.events as any[]).filter((e) => e.event.data.uploadId === id && e.type === 'upload.created');
      if (failed.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(failed).toHaveLength(1);
    const [e] = failed;
    expect(e).toMatchObject({ status: 'failed', type: 'upload.created', lastStatus: 503, lastError: 'HTTP 503', url: `${dead.url}/dead` });
    expect(e.attempts).toBeGreaterThanOrEqual(3);
    const attempts = dead.received.filter((r) => r.headers['webhook-id'] === e.webhookId);
    expect(attempts).toHaveLength(e.attempts);
    expect(JSON.stringify(e)).not.toContain(secret.slice(6));
    const metrics = (await raw(`${gw.url}/metrics`)).text;
    expect(metrics).toMatch(/gateway_webhook_deliveries_total\{result="given_up"\} [1-9]/);
    // The pending list is answered too; a bad status is a 400.
    expect((await raw(`${gw.url}/api/events?status=pending`)).status).toBe(200);
    const bad = await raw(`${gw.url}/api/events?status=lost`);
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('InvalidArgument');
  });

  it('sends upload.expired when the sweeper removes an incomplete upload', async () => {
    const { id } = await createUpload(gw.url, { length: 50, metadata: { filename: uniqueName('exp'), owner: 'gina' } });
    await dead.waitFor(() => forUpload(dead.ofType('upload.expired'), id).length > 0, 15_000, 'upload.expired');
    expect(verified(secret, forUpload(dead.ofType('upload.expired'), id)[0]!).data).toMatchObject({ uploadId: id, owner: 'gina', size: 50, offset: 0 });
  });
});
