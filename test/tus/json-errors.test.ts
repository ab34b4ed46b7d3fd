/**
 * JsonErrorServer (server/tus/json-errors.ts) on its own, bare on a real socket with a real
 * FileStore: the answers @tus/server writes itself (412, 400, 404, a handler's failure) are
 * the gateway's JSON errors, and its success answers are untouched.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '@tus/file-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonErrorServer, tusErrorJson } from '../../server/tus/json-errors.ts';

let dir: string;
let http: HttpServer;
let base: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ugw-json-errors-'));
  const tus = new JsonErrorServer({ path: '/files', datastore: new FileStore({ directory: dir }) });
  http = createServer((req, res) => void tus.handle(req, res));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/files`;
});

afterAll(async () => {
  await new Promise((resolve) => http?.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function jsonError(res: Response): Promise<{ code: string; message: string }> {
  expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
  const text = await res.text();
  expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
  return (JSON.parse(text) as { error: { code: string; message: string } }).error;
}

describe('JsonErrorServer', () => {
  it("answers @tus/server's own 412 (no Tus-Resumable) as JSON", async () => {
    const res = await fetch(base, { method: 'POST', headers: { 'Upload-Length': '3' } });
    expect(res.status).toBe(412);
    expect(await jsonError(res)).toEqual({ code: 'PreconditionFailed', message: 'Tus-Resumable Required' });
  });

  it("answers its header validation's 400 as JSON", async () => {
    const res = await fetch(base, { method: 'POST', headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': 'abc' } });
    expect(res.status).toBe(400);
    expect(await jsonError(res)).toEqual({ code: 'InvalidArgument', message: 'Invalid upload-length' });
  });

  it('answers a handler failure (an unknown upload) as JSON, with the status @tus/server chose', async () => {
    const res = await fetch(`${base}/nosuchupload`, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const patch = await fetch(`${base}/nosuchupload`, {
      method: 'PATCH',
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: 'abc',
    });
    expect(patch.status).toBe(404);
    expect((await jsonError(patch)).code).toBe('NoSuchUpload');
  });

  it('leaves success answers as @tus/server writes them', async () => {
    const created = await fetch(base, { method: 'POST', headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '3' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).not.toMatch(/json/);
    const url = new URL(created.headers.get('location')!, base).href;
    const patched = await fetch(url, {
      method: 'PATCH',
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: 'abc',
    });
    expect(patched.status).toBe(204);
    expect(patched.headers.get('upload-offset')).toBe('3');
  });

  it('keeps a body that is already a gateway JSON error, and wraps text with the code for its status', () => {
    const gateway = JSON.stringify({ error: { code: 'UploadRefused', message: 'no' } });
    expect(tusErrorJson(403, gateway)).toBe(gateway);
    expect(JSON.parse(tusErrorJson(423, 'locked\n'))).toEqual({ error: { code: 'Locked', message: 'locked' } });
    expect(JSON.parse(tusErrorJson(502, 'bad gateway'))).toEqual({ error: { code: 'InternalError', message: 'bad gateway' } });
    expect(JSON.parse(tusErrorJson(418, '{not json'))).toEqual({ error: { code: 'InvalidRequest', message: '{not json' } });
  });
});
