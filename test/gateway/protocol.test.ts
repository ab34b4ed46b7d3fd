/**
 * docs/api.md §2 (tus 1.0.0 at /files/) on every pairing of tus datastore and Store, over
 * real sockets: tus-js-client for whole flows, raw HTTP for the protocol's details.
 */
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  OCTETS,
  MiB,
  PAIRINGS,
  TUS_VERSION,
  clientUpload,
  createUpload,
  encodedKey,
  filesUnder,
  head,
  MemoryUrlStorage,
  objectInfo,
  objectPath,
  patch,
  randomData,
  raw,
  sha256Hex,
  usePairingGateway,
  tusHeaders,
  uniqueName,
  usesS3Datastore,
} from './pairings.ts';


describe.each(PAIRINGS)('tus protocol on %s', { timeout: 90_000 }, (pairing) => {
  const gw = usePairingGateway(pairing);
  const involvesS3 = pairing !== 'file+localfs';
  // s3: larger than the 8 MiB part size, in chunks of at least the S3 minimum part (5 MiB).
  const bigSize = involvesS3 ? 20 * MiB : 3 * MiB;
  const bigChunk = involvesS3 ? 5 * MiB : 1 * MiB;


  /** A small upload finished with one creation-with-upload POST. */
  async function finishedUpload(owner: string, size = 1000) {
    const data = randomData(size);
    const filename = uniqueName('done');
    const res = await raw(`${gw.url}/files`, {
      method: 'POST',
      headers: tusHeaders({
        'Upload-Length': String(size),
        'Upload-Metadata': `filename ${Buffer.from(filename).toString('base64')},owner ${Buffer.from(owner).toString('base64')}`,
        'Content-Type': OCTETS,
      }),
      body: data,
    });
    expect(res.status, res.text).toBe(201);
    const url = new URL(String(res.headers.location), gw.url).toString();
    return { data, url, id: url.slice(url.lastIndexOf('/') + 1), key: `models/${owner}/${filename}`, res };
  }

  it('uploads a file in chunks with tus-js-client and finalizes it byte-exact into models/{owner}/{filename}', async () => {
    const data = randomData(bigSize);
    const filename = `chunked ${uniqueName('é')}`; // a space and UTF-8: the key is percent-encoded per segment
    const owner = 'alice';
    const result = await clientUpload(`${gw.url}/files/`, data, {
      chunkSize: bigChunk,
      metadata: { filename, owner, filetype: 'application/x-model' },
    });
    const key = `models/${owner}/${filename}`;
    expect(result.lastResponse.getHeader('Object-Key')).toBe(encodedKey(key));
    expect(result.requests.filter((m) => m === 'PATCH').length).toBe(Math.ceil(bigSize / bigChunk));

    const got = await raw(gw.url + objectPath(key));
    expect(got.status).toBe(200);
    expect(got.body.length).toBe(data.length);
    expect(got.body.equals(data)).toBe(true);
    const sha = sha256Hex(data);
    expect(got.headers.etag).toMatch(/^"[^"]+"$/);
    expect(got.headers.digest).toBe(`sha-256=${Buffer.from(sha, 'hex').toString('base64')}`);
    expect(got.headers['content-type']).toBe('application/x-model');

    const info = await objectInfo(gw.url, key);
    expect(info).toBeDefined();
    expect(info!.size).toBe(bigSize);
    expect(info!.metadata.sha256).toBe(sha);
    expect(info!.metadata.uploadId).toBe(result.id);
    expect(info!.metadata.filename).toBe(filename);
    expect(info!.metadata.owner).toBe(owner);
  });

  it('finalizes a whole file sent in the creation POST (creation-with-upload) and answers 201 with Object-Key', async () => {
    const { data, key, res, id } = await finishedUpload('bob', 4096);
    // docs/tus-server-notes.md #2: @tus/server alone would answer 410 here.
    expect(res.headers['object-key']).toBe(encodedKey(key));
    expect(res.headers['upload-offset']).toBe('4096');
    const got = await raw(gw.url + objectPath(key));
    expect(got.status).toBe(200);
    expect(got.body.equals(data)).toBe(true);
    const info = await objectInfo(gw.url, key);
    expect(info!.metadata.uploadId).toBe(id);
    expect(info!.metadata.sha256).toBe(sha256Hex(data));
  });

  it('finalizes a whole file sent in the creation POST by tus-js-client (uploadDataDuringCreation)', async () => {
    const data = randomData(64 * 1024);
    const filename = uniqueName('with-creation');
    const result = await clientUpload(`${gw.url}/files`, data, { uploadDataDuringCreation: true, metadata: { filename, owner: 'carol' } });
    expect(result.requests).toEqual(['POST']);
    expect(result.lastResponse.getHeader('Object-Key')).toBe(`models/carol/${filename}`);
    expect((await raw(gw.url + objectPath(`models/carol/${filename}`))).body.equals(data)).toBe(true);
  });

  it('finalizes a zero-byte upload at creation', async () => {
    const filename = uniqueName('empty');
    const { res } = await createUpload(gw.url, { length: 0, metadata: { filename, owner: 'zero' } });
    expect(res.headers['object-key']).toBe(`models/zero/${filename}`);
    const got = await raw(gw.url + objectPath(`models/zero/${filename}`));
    expect(got.status).toBe(200);
    expect(got.body.length).toBe(0);
    expect((await objectInfo(gw.url, `models/zero/${filename}`))!.metadata.sha256).toBe(sha256Hex(Buffer.alloc(0)));
  });

  it('resumes after the connection drops mid-PATCH: the object is byte-exact with the right sha256', async () => {
    const size = usesS3Datastore(pairing) ? 12 * MiB : 3 * MiB;
    const sent = usesS3Datastore(pairing) ? 9 * MiB + 12345 : 2 * MiB + 12345;
    const data = randomData(size);
    const filename = uniqueName('dropped');
    const key = `models/quinn/${filename}`;
    const { url, id } = await createUpload(gw.url, { length: size, metadata: { filename, owner: 'quinn' } });
    await new Promise<void>((resolve) => {
      const req = request(url, {
        method: 'PATCH',
        agent: false,
        headers: tusHeaders({ 'Content-Type': OCTETS, 'Upload-Offset': '0', 'Content-Length': size }),
      });
      req.on('error', () => resolve());
      req.write(data.subarray(0, sent), () => setTimeout(() => {
        req.destroy();
        resolve();
      }, 300));
    });
    // The server notices the drop and keeps what arrived; wait until the offset stops moving.
    let offset = -1;
    for (let i = 0; i < 50; i++) {
      await sleep(100);
      const st = await raw(`${gw.url}/api/uploads/${id}`);
      if (st.json.offset === offset && (await head(url)).status === 200) break;
      offset = st.json.offset;
    }
    const h = await head(url);
    expect(h.status).toBe(200);
    const resumeAt = Number(h.headers['upload-offset']);
    expect(resumeAt).toBeLessThanOrEqual(sent);
    const res = await patch(url, resumeAt, data.subarray(resumeAt));
    expect(res.status, res.text).toBe(204);
    expect(res.headers['object-key']).toBe(`models/quinn/${filename}`);
    expect((await raw(gw.url + objectPath(key))).body.equals(data)).toBe(true);
    expect((await objectInfo(gw.url, key))!.metadata.sha256).toBe(sha256Hex(data));
  });

  describe('a finished upload', () => {
    it('answers HEAD with 200, Upload-Offset == Upload-Length and Object-Key', async () => {
      const { url, key } = await finishedUpload('dave', 1500);
      const res = await head(url);
      expect(res.status).toBe(200);
      expect(res.headers['upload-offset']).toBe('1500');
      expect(res.headers['upload-length']).toBe('1500');
      expect(res.headers['object-key']).toBe(encodedKey(key));
      expect(res.headers['tus-resumable']).toBe(TUS_VERSION);
    });

    it('answers an empty PATCH at offset == length as complete (204 + Object-Key)', async () => {
      const { url, key } = await finishedUpload('erin', 1500);
      const res = await patch(url, 1500, Buffer.alloc(0));
      expect(res.status).toBe(204);
      expect(res.headers['upload-offset']).toBe('1500');
      expect(res.headers['object-key']).toBe(encodedKey(key));
    });

    it('refuses a PATCH with bytes (409) and leaves the object unchanged', async () => {
      const { url, key, data } = await finishedUpload('frank', 1500);
      const before = await objectInfo(gw.url, key);
      const res = await patch(url, 1500, randomData(100));
      expect(res.status).toBe(409);
      const atZero = await patch(url, 0, randomData(1500));
      expect(atZero.status).toBe(409);
      const after = await objectInfo(gw.url, key);
      expect(after).toEqual(before);
      expect((await raw(gw.url + objectPath(key))).body.equals(data)).toBe(true);
      expect((await head(url)).headers['upload-offset']).toBe('1500');
    });

    it('tus-js-client resuming it by uploadUrl learns it is done with one HEAD and uploads nothing', async () => {
      const data = randomData(200 * 1024);
      const filename = uniqueName('resume-url');
      const first = await clientUpload(`${gw.url}/files`, data, { chunkSize: 64 * 1024, metadata: { filename, owner: 'gina' } });
      const key = `models/gina/${filename}`;
      const before = await objectInfo(gw.url, key);
      const again = await clientUpload(`${gw.url}/files`, data, { uploadUrl: first.url, metadata: { filename, owner: 'gina' } });
      expect(again.requests).toEqual(['HEAD']);
      expect(again.url).toBe(first.url);
      const after = await objectInfo(gw.url, key);
      expect(after!.metadata.uploadId).toBe(first.id);
      expect(after).toEqual(before);
    });

    it('tus-js-client resuming it by fingerprint learns it is done without uploading again', async () => {
      const urlStorage = new MemoryUrlStorage();
      const data = randomData(100 * 1024);
      const filename = uniqueName('resume-fp');
      const options = { urlStorage, chunkSize: 32 * 1024, metadata: { filename, owner: 'hank' } };
      const first = await clientUpload(`${gw.url}/files`, data, options);
      expect(await urlStorage.findAllUploads()).toHaveLength(1);
      const before = await objectInfo(gw.url, `models/hank/${filename}`);
      const again = await clientUpload(`${gw.url}/files`, data, { ...options, resumePrevious: true });
      expect(again.requests).toEqual(['HEAD']);
      expect(again.id).toBe(first.id);
      expect(await objectInfo(gw.url, `models/hank/${filename}`)).toEqual(before);
    });

    it('redirects GET /files/{id} (302) to /api/objects/{key}', async () => {
      const { url, key, data } = await finishedUpload('ivan', 777);
      const res = await raw(url);
      expect(res.status).toBe(302);
      const location = new URL(String(res.headers.location), gw.url);
      expect(location.pathname).toBe(objectPath(key));
      expect((await raw(location.toString())).body.equals(data)).toBe(true);
    });

    it('DELETE forgets the upload but never deletes the object it became', async () => {
      const { url, key, data } = await finishedUpload('june', 600);
      const res = await raw(url, { method: 'DELETE', headers: tusHeaders() });
      expect(res.status).toBe(204);
      expect((await raw(gw.url + objectPath(key))).body.equals(data)).toBe(true);
    });
  });

  describe('GET on the tus path', () => {
    it('answers 404 for an upload that is not finished', async () => {
      const { url } = await createUpload(gw.url, { length: 100, metadata: { filename: uniqueName('unfinished') } });
      await patch(url, 0, randomData(10));
      const res = await raw(url);
      expect(res.status).toBe(404);
      expect(res.json?.error?.code).toBeTypeOf('string');
    });

    it.each([
      ['a trailing slash', (id: string) => `/files/${id}/`],
      ['a trailing /.', (id: string) => `/files/${id}/.`],
      ['a trailing backslash', (id: string) => `/files/${id}\\`],
      ['a malformed escape', () => '/files/x%zz'],
      ['an encoded slash', (id: string) => `/files/${id}%2F..`],
      ['a nested path', (id: string) => `/files/${id}/x`],
      ['an unknown id', () => '/files/doesnotexist0123456789'],
    ])('answers 404 JSON for %s, on every method, and stays up', async (_label, pathFor) => {
      const { id } = await finishedUpload('kate', 100);
      const path = pathFor(id);
      const get = await raw(gw.url + path);
      expect(get.status).toBe(404);
      expect(get.json?.error?.code).toBeTypeOf('string');
      const p = await raw(gw.url + path, {
        method: 'PATCH',
        headers: tusHeaders({ 'Content-Type': OCTETS, 'Upload-Offset': '0' }),
        body: 'xx',
      });
      expect(p.status, `PATCH ${path}`).toBe(404);
      const del = await raw(gw.url + path, { method: 'DELETE', headers: tusHeaders() });
      expect(del.status, `DELETE ${path}`).toBe(404);
      const h = await raw(gw.url + path, { method: 'HEAD', headers: tusHeaders() });
      expect(h.status, `HEAD ${path}`).toBe(404);
      expect((await raw(`${gw.url}/healthz`)).status).toBe(200);
    });

    it('survives a bad Host header on GET /files/{id} (docs/tus-server-notes.md #14)', async () => {
      const { id } = await createUpload(gw.url, { length: 10 });
      const res = await raw(`${gw.url}/files/${id}`, { headers: { Host: '127.0.0.1:99999' } });
      expect(res.status).toBe(404);
      expect((await raw(`${gw.url}/healthz`)).status).toBe(200);
    });
  });

  it('advertises Tus-Version, every extension and Tus-Max-Size on OPTIONS', async () => {
    const res = await raw(`${gw.url}/files`, { method: 'OPTIONS' });
    expect([200, 204]).toContain(res.status);
    expect(String(res.headers['tus-version']).split(',').map((s) => s.trim())).toContain(TUS_VERSION);
    const extensions = String(res.headers['tus-extension']).split(',').map((s) => s.trim());
    for (const ext of ['creation', 'creation-with-upload', 'creation-defer-length', 'termination', 'expiration']) {
      expect(extensions, ext).toContain(ext);
    }
    expect(res.headers['tus-max-size']).toBe(String(20 * 2 ** 30));
  });

  describe('Tus-Resumable', () => {
    it.each([
      ['missing', undefined],
      ['unsupported', '0.2.2'],
    ])('is required: %s on POST, HEAD, PATCH and DELETE gets 412 with Tus-Version', async (_label, version) => {
      const { url } = await createUpload(gw.url, { length: 100, metadata: { filename: uniqueName('v') } });
      await patch(url, 0, randomData(10));
      const h = version ? { 'Tus-Resumable': version } : {};
      const requests = {
        POST: raw(`${gw.url}/files`, { method: 'POST', headers: { ...h, 'Upload-Length': '10' } }),
        PATCH: raw(url, { method: 'PATCH', headers: { ...h, 'Content-Type': OCTETS, 'Upload-Offset': '10' }, body: randomData(5) }),
        DELETE: raw(url, { method: 'DELETE', headers: h }),
        HEAD: raw(url, { method: 'HEAD', headers: h }),
      };
      for (const [method, pending] of Object.entries(requests)) {
        const res = await pending;
        expect(res.status, method).toBe(412);
        expect(String(res.headers['tus-version']), method).toContain(TUS_VERSION);
      }
      // None of them touched the upload.
      const after = await head(url);
      expect(after.status).toBe(200);
      expect(after.headers['upload-offset']).toBe('10');
    });
  });

  it.each([
    ['missing', undefined],
    ['application/octet-stream', 'application/octet-stream'],
    ['text/plain', 'text/plain'],
  ])('answers 415 to a PATCH whose Content-Type is %s, and stores nothing', async (_label, type) => {
    const { url } = await createUpload(gw.url, { length: 100, metadata: { filename: uniqueName('ct') } });
    const headers = tusHeaders({ 'Upload-Offset': '0', ...(type ? { 'Content-Type': type } : {}) });
    const res = await raw(url, { method: 'PATCH', headers, body: randomData(50) });
    expect(res.status).toBe(415);
    expect((await head(url)).headers['upload-offset']).toBe('0');
  });

  describe('X-HTTP-Method-Override', () => {
    it('turns POSTs into PATCH and HEAD, finishing the upload', async () => {
      const data = randomData(3000);
      const filename = uniqueName('override');
      const { url } = await createUpload(gw.url, { length: 3000, metadata: { filename, owner: 'lena' } });
      const asPatch = (offset: number, bytes: Buffer) =>
        raw(url, {
          method: 'POST',
          headers: tusHeaders({ 'X-HTTP-Method-Override': 'PATCH', 'Content-Type': OCTETS, 'Upload-Offset': String(offset) }),
          body: bytes,
        });
      const first = await asPatch(0, data.subarray(0, 1000));
      expect(first.status).toBe(204);
      expect(first.headers['upload-offset']).toBe('1000');
      const asHead = await raw(url, { method: 'POST', headers: tusHeaders({ 'X-HTTP-Method-Override': 'HEAD' }) });
      expect(asHead.status).toBe(200);
      expect(asHead.headers['upload-offset']).toBe('1000');
      expect(asHead.headers['upload-length']).toBe('3000');
      const last = await asPatch(1000, data.subarray(1000));
      expect(last.status).toBe(204);
      expect(last.headers['object-key']).toBe(`models/lena/${filename}`);
      expect((await raw(gw.url + objectPath(`models/lena/${filename}`))).body.equals(data)).toBe(true);
    });

    it('turns a POST into DELETE (termination)', async () => {
      const { url } = await createUpload(gw.url, { length: 100 });
      await patch(url, 0, randomData(10));
      const res = await raw(url, { method: 'POST', headers: tusHeaders({ 'X-HTTP-Method-Override': 'DELETE' }) });
      expect(res.status).toBe(204);
      expect([404, 410]).toContain((await head(url)).status);
    });
  });

  it('finishes and finalizes an upload whose length was deferred (creation-defer-length)', async () => {
    const data = randomData(usesS3Datastore(pairing) ? 6 * MiB : 300_000);
    const half = usesS3Datastore(pairing) ? 5 * MiB : 100_000;
    const filename = uniqueName('deferred');
    const { url } = await createUpload(gw.url, { deferLength: true, metadata: { filename, owner: 'mia' } });
    const h0 = await head(url);
    expect(h0.headers['upload-defer-length']).toBe('1');
    expect(h0.headers['upload-length']).toBeUndefined();
    const p1 = await patch(url, 0, data.subarray(0, half));
    expect(p1.status).toBe(204);
    expect(p1.headers['upload-offset']).toBe(String(half));
    const p2 = await patch(url, half, data.subarray(half), { 'Upload-Length': String(data.length) });
    expect(p2.status, p2.text).toBe(204);
    expect(p2.headers['object-key']).toBe(`models/mia/${filename}`);
    const key = `models/mia/${filename}`;
    expect((await raw(gw.url + objectPath(key))).body.equals(data)).toBe(true);
    expect((await objectInfo(gw.url, key))!.metadata.sha256).toBe(sha256Hex(data));
    const h1 = await head(url);
    expect(h1.status).toBe(200);
    expect(h1.headers['upload-length']).toBe(String(data.length));
  });

  it('finalizes a deferred-length upload whose length comes in a final, empty PATCH', async () => {
    const data = randomData(usesS3Datastore(pairing) ? 6 * MiB : 200_000);
    const filename = uniqueName('deferred-empty');
    const key = `models/mia/${filename}`;
    const { url } = await createUpload(gw.url, { deferLength: true, metadata: { filename, owner: 'mia' } });
    expect((await patch(url, 0, data)).status).toBe(204);
    expect(await objectInfo(gw.url, key)).toBeUndefined();
    const last = await patch(url, data.length, Buffer.alloc(0), { 'Upload-Length': String(data.length) });
    expect(last.status, last.text).toBe(204);
    expect(last.headers['object-key']).toBe(key);
    expect((await raw(gw.url + objectPath(key))).body.equals(data)).toBe(true);
    expect((await objectInfo(gw.url, key))!.metadata.sha256).toBe(sha256Hex(data));
  });

  it('uploads with tus-js-client when the length is deferred (uploadLengthDeferred)', async () => {
    const data = randomData(usesS3Datastore(pairing) ? 12 * MiB : 1 * MiB);
    const filename = uniqueName('client-deferred');
    const key = `models/mia/${filename}`;
    const result = await clientUpload(`${gw.url}/files`, data, {
      uploadLengthDeferred: true,
      chunkSize: usesS3Datastore(pairing) ? 5 * MiB : 256 * 1024,
      metadata: { filename, owner: 'mia' },
    });
    expect(result.lastResponse.getHeader('Object-Key')).toBe(key);
    expect((await raw(gw.url + objectPath(key))).body.equals(data)).toBe(true);
    expect((await objectInfo(gw.url, key))!.metadata.sha256).toBe(sha256Hex(data));
  });

  describe('termination', () => {
    it('DELETE of an incomplete upload answers 204; then HEAD and PATCH get 404/410 and GET /api/uploads/{id} 404', async () => {
      const { url, id } = await createUpload(gw.url, { length: 1000, metadata: { filename: uniqueName('terminated'), owner: 'nina' } });
      await patch(url, 0, randomData(500));
      const res = await raw(url, { method: 'DELETE', headers: tusHeaders() });
      expect(res.status).toBe(204);
      expect([404, 410]).toContain((await head(url)).status);
      expect([404, 410]).toContain((await patch(url, 500, randomData(500))).status);
      // A terminated upload is no longer an upload in progress.
      const status = await raw(`${gw.url}/api/uploads/${id}`);
      expect(status.status).toBe(404);
      expect(status.json?.error?.code).toBe('NoSuchUpload');
      if (!usesS3Datastore(pairing)) {
        expect((await filesUnder(`${gw.dataDir}/tus`)).filter((f) => f.startsWith(id))).toEqual([]);
      }
    });
  });

  describe('bytes beyond Upload-Length', () => {
    it('a PATCH with more bytes than remain gets 413 and stores none of them', async () => {
      const filename = uniqueName('too-many');
      const { url, id } = await createUpload(gw.url, { length: 100, metadata: { filename, owner: 'otto' } });
      const res = await patch(url, 0, randomData(150));
      // @tus/server: ERR_SIZE_EXCEEDED, 413 "upload's size exceeded".
      expect(res.status).toBe(413);
      expect((await head(url)).headers['upload-offset']).toBe('0');
      expect(await objectInfo(gw.url, `models/otto/${filename}`)).toBeUndefined();
      const status = await raw(`${gw.url}/api/uploads/${id}`);
      expect(status.json).toMatchObject({ offset: 0, length: 100, status: 'uploading' });
    });

    it('a PATCH after some bytes that overshoots the length gets 413; the upload then finishes exactly', async () => {
      const data = randomData(100);
      const filename = uniqueName('overshoot');
      const { url } = await createUpload(gw.url, { length: 100, metadata: { filename, owner: 'otto' } });
      expect((await patch(url, 0, data.subarray(0, 60))).status).toBe(204);
      expect((await patch(url, 60, Buffer.concat([data.subarray(60), randomData(1)]))).status).toBe(413);
      expect((await head(url)).headers['upload-offset']).toBe('60');
      expect(await objectInfo(gw.url, `models/otto/${filename}`)).toBeUndefined();
      const last = await patch(url, 60, data.subarray(60));
      expect(last.status).toBe(204);
      expect((await raw(gw.url + objectPath(`models/otto/${filename}`))).body.equals(data)).toBe(true);
    });

    it('a chunked PATCH (no Content-Length) that overshoots is refused and never stores a byte past the length', async () => {
      const filename = uniqueName('chunked-over');
      const key = `models/otto/${filename}`;
      const { url, id } = await createUpload(gw.url, { length: 100, metadata: { filename, owner: 'otto' } });
      const res = await raw(url, {
        method: 'PATCH',
        headers: tusHeaders({ 'Content-Type': OCTETS, 'Upload-Offset': '0', 'Transfer-Encoding': 'chunked' }),
        chunks: [randomData(80), randomData(80)],
      });
      expect(res.status).toBe(413);
      const offset = Number((await head(url)).headers['upload-offset']);
      expect(offset).toBeLessThanOrEqual(100);
      const info = await objectInfo(gw.url, key);
      if (info) expect(info.size).toBe(100);
      const status = await raw(`${gw.url}/api/uploads/${id}`);
      expect(status.json.offset).toBeLessThanOrEqual(100);
    });

    it('a creation-with-upload POST with more bytes than Upload-Length is refused and creates no object', async () => {
      const filename = uniqueName('post-over');
      const res = await raw(`${gw.url}/files`, {
        method: 'POST',
        headers: tusHeaders({ 'Upload-Length': '100', 'Upload-Metadata': `filename ${Buffer.from(filename).toString('base64')}`, 'Content-Type': OCTETS }),
        body: randomData(200),
      });
      expect(res.status).toBe(413);
      expect(await objectInfo(gw.url, `models/anonymous/${filename}`)).toBeUndefined();
    });
  });

  describe('GET /api/uploads/{id}', () => {
    it('reports uploading with the offset mid-way, then done with the key', async () => {
      const size = usesS3Datastore(pairing) ? 6 * MiB : 200_000;
      const mid = usesS3Datastore(pairing) ? 5 * MiB : 80_000;
      const data = randomData(size);
      const filename = uniqueName('status');
      const { url, id } = await createUpload(gw.url, { length: size, metadata: { filename, owner: 'pia', extra: 'kept' } });
      expect((await raw(`${gw.url}/api/uploads/${id}`)).json).toMatchObject({ id, offset: 0, length: size, status: 'uploading' });
      await patch(url, 0, data.subarray(0, mid));
      const during = await raw(`${gw.url}/api/uploads/${id}`);
      expect(during.status).toBe(200);
      expect(during.json).toMatchObject({ id, offset: mid, length: size, status: 'uploading', metadata: { filename, owner: 'pia', extra: 'kept' } });
      expect(during.json.key).toBeUndefined();
      await patch(url, mid, data.subarray(mid));
      const done = await raw(`${gw.url}/api/uploads/${id}`);
      expect(done.json).toMatchObject({ id, offset: size, length: size, status: 'done', key: `models/pia/${filename}` });
    });

    it('answers 404 JSON for an unknown id and for an id that cannot be one', async () => {
      for (const id of ['0123456789abcdef0123456789abcdef', 'x%zz', 'a.b']) {
        const res = await raw(`${gw.url}/api/uploads/${id}`);
        expect(res.status, id).toBe(404);
        expect(res.json?.error?.code, id).toBe('NoSuchUpload');
      }
    });
  });

  it('is still alive after all of the above', async () => {
    const res = await raw(`${gw.url}/healthz`);
    expect(res.status).toBe(200);
  });
});
