/**
 * The protocol defects found by fuzzing and the tus compliance suite, each over a real
 * socket — raw bytes where a client library would not send them (a malformed or doubled
 * Host, a method override that changes whether the answer has a body).
 */
import { connect } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { createUpload, patch, raw, randomData, usePairingGateway, tusHeaders, uniqueName } from './pairings.ts';

interface WireAnswer {
  status: number;
  headers: Record<string, string[]>;
  body: Buffer;
  /** The whole message arrived: the head, and as many body bytes as it announced. */
  complete: boolean;
}

/**
 * Sends `request` as it is and reads one answer, waiting at most `timeoutMs` for it to be
 * complete (Content-Length bytes of body, or the end of a chunked body), as a client would.
 */
function wire(port: number, request: string | Buffer, { timeoutMs = 3000, bodyless = false } = {}): Promise<WireAnswer> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const parse = (final: boolean) => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return final ? { status: 0, headers: {}, body: buf, complete: false } : undefined;
      const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string[]> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        (headers[l.slice(0, i).trim().toLowerCase()] ??= []).push(l.slice(i + 1).trim());
      }
      const status = Number(statusLine!.split(' ')[1]);
      const body = buf.subarray(end + 4);
      const noBody = bodyless || status === 204 || status === 304 || (status >= 100 && status < 200);
      const length = headers['content-length']?.[0];
      let complete: boolean;
      if (noBody) complete = true;
      else if (length !== undefined) complete = body.length >= Number(length);
      else if (headers['transfer-encoding']?.[0]?.includes('chunked')) complete = body.includes('0\r\n\r\n');
      else complete = final; // delimited by the close
      if (!complete && !final) return undefined;
      return { status, headers, body, complete };
    };
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(parse(true)!);
    }, timeoutMs);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const answer = parse(false);
      if (answer) {
        clearTimeout(timer);
        sock.destroy();
        resolve(answer);
      }
    });
    sock.on('end', () => {
      clearTimeout(timer);
      resolve(parse(true)!);
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      if (buf.length) resolve(parse(true)!);
      else reject(err);
    });
    sock.write(request);
  });
}

describe.each(['file+localfs', 's3+s3'] as const)('protocol defects on %s', { timeout: 90_000 }, (pairing) => {
  const gw = usePairingGateway(pairing);
  let port: number;

  beforeAll(async () => {
    port = Number(new URL(gw.url).port);
  }, 120_000);

  it('answers 415 to a creation-with-upload POST whose body has another Content-Type, creating nothing', async () => {
    const name = uniqueName('cwu-type');
    for (const type of ['text/plain', 'application/octet-stream', undefined]) {
      const headers = tusHeaders({ 'Upload-Length': '5', 'Upload-Metadata': `filename ${Buffer.from(name).toString('base64')}` });
      if (type) headers['Content-Type'] = type;
      const res = await raw(`${gw.url}/files`, { method: 'POST', headers, body: 'hello' });
      expect(res.status, String(type)).toBe(415);
      expect(res.json?.error?.code).toBe('UnsupportedMediaType');
      expect(res.headers.location).toBeUndefined();
    }
    // Without a body any Content-Type is fine: a plain creation.
    const plain = await raw(`${gw.url}/files`, { method: 'POST', headers: tusHeaders({ 'Upload-Length': '5', 'Content-Type': 'text/plain' }) });
    expect(plain.status).toBe(201);
  });

  it('answers 400 to a filename present but empty, with or without the separating space', async () => {
    for (const header of ['filename', 'filename ', 'filename ,owner YWxpY2U=', 'owner YWxpY2U=,filename']) {
      const res = await raw(`${gw.url}/files`, { method: 'POST', headers: tusHeaders({ 'Upload-Length': '5', 'Upload-Metadata': header }) });
      expect(res.status, header).toBe(400);
      expect(res.json?.error?.code).toBe('InvalidArgument');
    }
  });

  it('never answers 5xx to a malformed or doubled Host on POST, HEAD, PATCH and DELETE, and builds Location without it', async () => {
    const { url } = await createUpload(gw.url, { length: 100, metadata: { filename: uniqueName('host') } });
    const path = new URL(url).pathname;
    const hosts = [['127.0.0.1:99999'], ['4294967296'], ['a b'], ['evil.example', 'other.example'], ['[::1'], ['']];
    for (const host of hosts) {
      const hostLines = host.map((h) => `Host: ${h}\r\n`).join('');
      const requests: Array<[string, string]> = [
        ['POST /files', `POST /files HTTP/1.1\r\n${hostLines}Tus-Resumable: 1.0.0\r\nUpload-Length: 3\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`],
        ['HEAD', `HEAD ${path} HTTP/1.1\r\n${hostLines}Tus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n`],
        [
          'PATCH',
          `PATCH ${path} HTTP/1.1\r\n${hostLines}Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
        ],
        ['POST /files/{id}', `POST ${path} HTTP/1.1\r\n${hostLines}Tus-Resumable: 1.0.0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`],
        ['GET', `GET ${path} HTTP/1.1\r\n${hostLines}Connection: close\r\n\r\n`],
      ];
      for (const [what, req] of requests) {
        const res = await wire(port, req, { bodyless: what === 'HEAD' });
        expect(res.status, `${what} with Host ${JSON.stringify(host)}`).toBeGreaterThanOrEqual(200);
        expect(res.status, `${what} with Host ${JSON.stringify(host)}`).toBeLessThan(500);
        expect(res.complete).toBe(true);
        for (const loc of res.headers.location ?? []) {
          for (const h of host) if (h) expect(loc).not.toContain(h);
          expect(loc).toMatch(/^\/files\/[A-Za-z0-9_-]+$/);
        }
      }
    }
    // DELETE last: it ends the upload.
    const del = await wire(port, `DELETE ${path} HTTP/1.1\r\nHost: 127.0.0.1:99999\r\nTus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n`);
    expect(del.status).toBe(204);
    // And the gateway is still up.
    expect((await raw(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('answers X-HTTP-Method-Override: HEAD on a wire DELETE or OPTIONS with a complete message', async () => {
    const { url } = await createUpload(gw.url, { length: 100, metadata: { filename: uniqueName('override') } });
    const path = new URL(url).pathname;
    for (const wireMethod of ['DELETE', 'OPTIONS', 'POST', 'PATCH']) {
      for (const target of [path, '/files/nosuchupload', '/files']) {
        const req =
          `${wireMethod} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nTus-Resumable: 1.0.0\r\nX-HTTP-Method-Override: HEAD\r\n` +
          `Content-Length: 0\r\n\r\n`; // keep-alive: only the announced framing says where the answer ends
        const res = await wire(port, req, { timeoutMs: 2000 });
        expect(res.complete, `${wireMethod} ${target} → ${res.status}`).toBe(true);
        expect(res.body.length, `${wireMethod} ${target}`).toBe(0);
        expect(res.status).toBeLessThan(500);
      }
    }
    // The upload is still there: a HEAD override on a DELETE is a HEAD.
    const h = await wire(port, `HEAD ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nTus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n`, { bodyless: true });
    expect(h.status).toBe(200);
    expect(h.headers['upload-offset']).toEqual(['0']);
    const done = await patch(url, 0, randomData(100));
    expect(done.status).toBe(204);
  });
});
