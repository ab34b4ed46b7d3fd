import { rename, rm, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../server/errors.ts';
import { startGateway } from '../support/gateway.ts';
import { capturingLogger } from '../support/logs.ts';
import { createTestBucket, s3GatewayEnv } from '../support/services.ts';
import { useStarted } from '../support/use.ts';
import { useApp } from '../support/app.ts';
import { errorOf } from '../support/http.ts';

describe('operations endpoints (docs/api.md §5)', () => {
  const gw = useApp();

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
  const gw = useApp();

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

describe('metrics and request logs over a real gateway (tus, Store, S3)', () => {
  const tusHeaders = { 'Tus-Resumable': '1.0.0' };
  const metric = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
  const { lines, raw, logger } = capturingLogger();
  const gw = useStarted('gateway on s3', async () =>
    startGateway({ env: { STORAGE_BACKEND: 's3', ...s3GatewayEnv(await createTestBucket('metrics')) }, logger }),
  );

  it('request-duration by route pattern and status class, S3 commands, lock wait, connections, tus counters', async () => {
    const meta = `filename ${Buffer.from('metrics.onnx').toString('base64')},owner ${Buffer.from('ops').toString('base64')}`;
    const created = await fetch(`${gw.url}/files/`, { method: 'POST', headers: { ...tusHeaders, 'Upload-Length': '5', 'Upload-Metadata': meta } });
    expect(created.status).toBe(201);
    const location = new URL(created.headers.get('location')!, gw.url).href;
    const id = location.split('/').pop()!;
    const patch = await fetch(location, {
      method: 'PATCH',
      headers: { ...tusHeaders, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: 'hello',
    });
    expect(patch.status).toBe(204);
    // The same key again: storage.overwrite deny wants the replacement asked for.
    const overwrite = `${meta},overwrite ${Buffer.from('true').toString('base64')}`;
    const other = await fetch(`${gw.url}/files/`, { method: 'POST', headers: { ...tusHeaders, 'Upload-Length': '9', 'Upload-Metadata': overwrite } });
    expect((await fetch(new URL(other.headers.get('location')!, gw.url), { method: 'DELETE', headers: tusHeaders })).status).toBe(204);
    expect(await (await fetch(`${gw.url}/api/objects/models/ops/metrics.onnx`, { headers: { Authorization: 'Bearer top-secret-token' } })).text()).toBe('hello');
    await new Promise((r) => setTimeout(r, 50));

    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metric(text, /^gateway_http_request_duration_seconds_count\{method="PATCH",route="\/files\/:id",status_class="2xx"\} (\d+)$/m)).toBe(1);
    expect(metric(text, /^gateway_http_request_duration_seconds_count\{method="POST",route="\/files",status_class="2xx"\} (\d+)$/m)).toBe(2);
    expect(metric(text, /^gateway_http_request_duration_seconds_count\{method="GET",route="[^"]*objects[^"]*",status_class="2xx"\} (\d+)$/m)).toBe(1);
    // No raw path is a label: neither the upload id nor the object key appears.
    expect(text).not.toContain(id);
    expect(text).not.toContain('metrics.onnx');
    expect(metric(text, /^gateway_s3_operation_duration_seconds_count\{command="HeadBucketCommand",outcome="ok"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^gateway_s3_operation_duration_seconds_count\{command="(PutObject|CompleteMultipartUpload|CopyObject)Command",outcome="ok"\} [1-9]\d*$/m);
    expect(metric(text, /^gateway_s3_operation_duration_seconds_count\{command="GetObjectCommand",outcome="ok"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
    expect(metric(text, /^gateway_lock_wait_seconds_count\{locker="queue"\} (\d+)$/m)).toBeGreaterThanOrEqual(2);
    expect(metric(text, /^gateway_http_connections_active (\d+)$/m)).toBeGreaterThanOrEqual(1);
    expect(metric(text, /^gateway_uploads_created_total (\d+)$/m)).toBe(2);
    expect(metric(text, /^gateway_uploads_finished_total (\d+)$/m)).toBe(1);
    expect(metric(text, /^gateway_uploads_terminated_total (\d+)$/m)).toBe(1);
    expect(metric(text, /^gateway_upload_bytes_received_total (\d+)$/m)).toBe(5);
  });

  it('one pino-http line per request, with Authorization and signatures redacted', async () => {
    const before = lines.length;
    const rawBefore = raw.length;
    const presigned = await fetch(`${gw.url}/api/presign`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer top-secret-token' },
      body: JSON.stringify({ key: 'models/ops/metrics.onnx', method: 'GET', expiresIn: 60 }),
    });
    const { url } = (await presigned.json()) as { url: string };
    // The same signed query, sent to the gateway: it is logged, and must be logged without its signature.
    const signature = new URL(url).searchParams.get('X-Amz-Signature')!;
    expect(signature).toMatch(/^[0-9a-f]{64}$/);
    await (await fetch(`${gw.url}/nope${new URL(url).search}`)).arrayBuffer();
    await new Promise((r) => setTimeout(r, 50));
    const requestLines = lines.slice(before).filter((l) => l.msg === 'request');
    expect(requestLines).toHaveLength(2);
    const all = JSON.stringify(lines);
    expect(all).not.toContain('top-secret-token');
    expect(all).not.toContain(signature);
    const [p, n] = requestLines as Array<{ req: { url: string; headers: Record<string, string> }; status: number; reqId: string; ms: number; route: string }>;
    expect(p!.req.headers.authorization).toBe('[redacted]');
    expect(p!.status).toBe(200);
    expect(p!.route).toBe('/api/presign');
    expect(typeof p!.reqId).toBe('string');
    expect(typeof p!.ms).toBe('number');
    expect(n!.req.url).toContain('X-Amz-Signature=[redacted]');
    expect(n!.status).toBe(404);
    // Each fact once: pino-http also binds customProps when the request starts (then 499, aborted),
    // and a line holding both sets parses as whichever comes last.
    const rawRequests = raw.slice(rawBefore).filter((l) => l.includes('"msg":"request"'));
    expect(rawRequests).toHaveLength(2);
    for (const l of rawRequests) for (const key of ['status', 'aborted', 'route', 'path', 'ip']) expect(l.split(`"${key}":`)).toHaveLength(2);
  });
});
