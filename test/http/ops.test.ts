import { rename, rm, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../server/errors.ts';
import { errorOf, startGateway, type Gateway } from './gateway-fixture.ts';

describe('operations endpoints (API.md §5)', () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(async () => gw?.close());

  it('GET /healthz → 200 {"status":"ok"}', async () => {
    const res = await fetch(gw.url('/healthz'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz → 200 while the store and the tus datastore answer', async () => {
    const res = await fetch(gw.url('/readyz'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', checks: { store: 'ok', tus: 'ok' } });
  });

  it('GET /readyz → 503 naming the store when its root is gone (replaced by a file)', async () => {
    // Moved aside rather than deleted, so the store finds its own layout again afterwards.
    await rename(gw.root, `${gw.root}.aside`);
    await writeFile(gw.root, 'not a directory');
    try {
      const res = await fetch(gw.url('/readyz'));
      expect(res.status).toBe(503);
      const body = (await res.clone().json()) as { checks: Record<string, string> };
      expect(await errorOf(res)).toEqual({ code: 'ServiceUnavailable', message: 'not ready: store' });
      expect(body.checks.tus).toBe('ok');
      expect(body.checks.store).toMatch(/not a writable directory/);
    } finally {
      await rm(gw.root, { force: true });
      await rename(`${gw.root}.aside`, gw.root);
    }
    expect((await fetch(gw.url('/readyz'))).status).toBe(200);
  });

  it('GET /readyz → 503 naming tus when its datastore fails', async () => {
    gw.tusPing = async () => {
      throw new GatewayError('ServiceUnavailable', 'tus datastore unreachable');
    };
    try {
      const res = await fetch(gw.url('/readyz'));
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        error: { code: 'ServiceUnavailable', message: 'not ready: tus' },
        checks: { store: 'ok', tus: 'tus datastore unreachable' },
      });
    } finally {
      gw.tusPing = async () => {};
    }
  });

  it('GET /readyz → 503 within about 2 s when a dependency hangs', async () => {
    gw.tusPing = () => new Promise(() => {});
    try {
      const started = Date.now();
      const res = await fetch(gw.url('/readyz'));
      const took = Date.now() - started;
      expect(res.status).toBe(503);
      expect(((await res.json()) as { checks: Record<string, string> }).checks.tus).toMatch(/no answer within 2000 ms/);
      expect(took).toBeGreaterThanOrEqual(1900);
      expect(took).toBeLessThan(4000);
    } finally {
      gw.tusPing = async () => {};
    }
  });

  it('GET /metrics → Prometheus text with the gateway metrics', async () => {
    await gw.store.put('m/x.bin', Readable.from([Buffer.from('12345')]), {});
    await (await fetch(gw.url('/api/objects/m/x.bin'))).arrayBuffer();
    await new Promise((r) => setTimeout(r, 50));
    const res = await fetch(gw.url('/metrics'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(gw.metrics.registry.contentType);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of [
      'gateway_uploads_created_total',
      'gateway_uploads_finished_total',
      'gateway_uploads_failed_total',
      'gateway_upload_bytes_received_total',
      'gateway_finalize_duration_seconds',
      'gateway_active_uploads',
      'process_cpu_seconds_total',
    ]) {
      expect(text, name).toContain(`# TYPE ${name} `);
    }
    expect(text).toMatch(/^gateway_objects_served_total\{route="objects"\} 1$/m);
    expect(text).toMatch(/^gateway_bytes_served_total\{route="objects"\} 5$/m);
    expect(text).toMatch(/^gateway_http_requests_total\{method="GET",status="200"\} \d+$/m);
  });

  it('an unknown path → 404 NotFound JSON', async () => {
    const res = await fetch(gw.url('/nope'));
    expect(res.status).toBe(404);
    expect((await errorOf(res)).code).toBe('NotFound');
  });
});

describe('GET /api/uploads/{id}', () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(async () => gw?.close());

  it("answers the tus gateway's status of the upload", async () => {
    const status = { id: 'abc_DEF-123', offset: 10, length: 20, status: 'uploading' as const, metadata: { filename: 'a.bin' } };
    gw.uploads.set(status.id, status);
    const res = await fetch(gw.url(`/api/uploads/${status.id}`));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual(status);
  });

  it('answers an unknown or malformed id with 404 NoSuchUpload JSON', async () => {
    for (const id of ['unknown', 'a.b', 'a%2Fb', 'x'.repeat(129), '%E2%82%AC']) {
      const res = await fetch(gw.url(`/api/uploads/${id}`));
      expect(res.status, id).toBe(404);
      expect((await errorOf(res)).code, id).toBe('NoSuchUpload');
    }
  });
});
