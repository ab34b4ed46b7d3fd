/**
 * docs/api.md §2: "Finalizing twice never happens, however requests race." Concurrent
 * writers and pollers on one upload, on every pairing, over real sockets.
 */
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  OCTETS,
  MiB,
  PAIRINGS,
  clientUpload,
  createUpload,
  head,
  metricValue,
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


/** How a slow PATCH ended: an HTTP status, or the socket error when the server cut it. */
type SlowResult = { status: number; offset?: string; body: string } | { error: string };

/** A PATCH whose body trickles in: `piece` bytes every `everyMs`, on its own connection. */
function slowPatch(url: string, offset: number, data: Buffer, piece: number, everyMs: number): Promise<SlowResult> {
  return new Promise((resolve) => {
    const req = httpRequest(url, {
      method: 'PATCH',
      agent: false,
      headers: tusHeaders({ 'Content-Type': OCTETS, 'Upload-Offset': String(offset), 'Content-Length': data.length }),
    });
    let settled = false;
    const done = (r: SlowResult) => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => done({ status: res.statusCode ?? 0, offset: res.headers['upload-offset'] as string | undefined, body }));
      res.on('error', (err) => done({ error: err.message }));
    });
    req.on('error', (err) => done({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
    (async () => {
      for (let at = 0; at < data.length && !settled && !req.destroyed; at += piece) {
        if (!req.write(data.subarray(at, at + piece))) await new Promise((r) => req.once('drain', r));
        await sleep(everyMs);
      }
      if (!req.destroyed) req.end();
    })().catch((err: Error) => done({ error: err.message }));
  });
}

const won = (r: SlowResult) => 'status' in r && r.status === 204;

describe.each(PAIRINGS)('concurrent requests on one upload on %s', { timeout: 90_000 }, (pairing) => {
  const gw = usePairingGateway(pairing);


  /** Completes an upload from wherever it stands (HEAD, then PATCH the rest). */
  async function finishFromHead(url: string, data: Buffer) {
    const h = await head(url);
    expect(h.status).toBe(200);
    const offset = Number(h.headers['upload-offset']);
    if (offset < data.length) {
      const res = await patch(url, offset, data.subarray(offset));
      expect(res.status, res.text).toBe(204);
      return res;
    }
    return h;
  }

  it.each([
    // ~2.5 s: the first PATCH ends before @tus/server's lockDrainTimeout (3 s) makes it let go.
    ['ending before the lock drain timeout', 32, 80],
    // ~5 s: the second PATCH's lock request aborts the first after 3 s, mid-body.
    ['outlasting the lock drain timeout', 64, 75],
  ])('two clients PATCHing the same offset with slow bodies %s: at most one wins, the object is byte-exact and finalized once', async (_label, pieces, everyMs) => {
    const size = usesS3Datastore(pairing) ? 6 * MiB : 1 * MiB;
    const data = randomData(size);
    const filename = uniqueName('race');
    const key = `models/race/${filename}`;
    const finishedBefore = await metricValue(gw.url, 'gateway_uploads_finished_total');
    const { url } = await createUpload(gw.url, { length: size, metadata: { filename, owner: 'race' } });

    // Both send the same bytes (the same file, from two tabs).
    const piece = size / pieces;
    const a = slowPatch(url, 0, data, piece, everyMs);
    await sleep(200);
    const b = slowPatch(url, 0, data, piece, everyMs);
    const results = await Promise.all([a, b]);

    expect(results.filter(won).length, JSON.stringify(results)).toBeLessThanOrEqual(1);
    for (const r of results) {
      if ('status' in r && r.status !== 204) {
        // The loser is told so with a 4xx (409 conflict, 423 locked, 400 aborted…), never a 5xx.
        expect(r.status, r.body).toBeGreaterThanOrEqual(400);
        expect(r.status, r.body).toBeLessThan(500);
      }
    }
    await finishFromHead(url, data);

    const got = await raw(gw.url + objectPath(key));
    expect(got.status).toBe(200);
    expect(got.body.equals(data)).toBe(true);
    expect((await objectInfo(gw.url, key))!.metadata.sha256).toBe(sha256Hex(data));
    expect(await metricValue(gw.url, 'gateway_uploads_finished_total')).toBe(finishedBefore + 1);
  });

  it('many empty PATCHes and HEADs racing the final PATCH: finalized exactly once, never a 5xx', async () => {
    const size = usesS3Datastore(pairing) ? 6 * MiB : 2 * MiB;
    const last = usesS3Datastore(pairing) ? 1 * MiB : 512 * 1024;
    const data = randomData(size);
    const filename = uniqueName('stampede');
    const key = `models/stampede/${filename}`;
    const finishedBefore = await metricValue(gw.url, 'gateway_uploads_finished_total');
    const { url, id } = await createUpload(gw.url, { length: size, metadata: { filename, owner: 'stampede' } });
    expect((await patch(url, 0, data.subarray(0, size - last))).status).toBe(204);

    const final = patch(url, size - last, data.subarray(size - last));
    const racers: Array<Promise<{ kind: string; status: number; body: string }>> = [];
    for (let i = 0; i < 20; i++) {
      const delay = i * 5;
      racers.push(
        sleep(delay).then(async () => {
          const r = await patch(url, size, Buffer.alloc(0));
          return { kind: 'empty PATCH', status: r.status, body: r.text };
        }),
        sleep(delay).then(async () => {
          const r = await raw(`${gw.url}/api/uploads/${id}`);
          return { kind: 'status', status: r.status, body: r.text };
        }),
      );
      if (i % 4 === 0) {
        racers.push(
          sleep(delay).then(async () => {
            const r = await head(url);
            return { kind: 'HEAD', status: r.status, body: r.text };
          }),
        );
      }
    }
    const [finalRes, ...others] = await Promise.all([final, ...racers]);
    for (const r of others) expect(r.status, `${r.kind}: ${r.body}`).toBeLessThan(500);
    // A HEAD may make @tus/server abort the final PATCH (docs/tus-server-notes.md #12): then the client resumes.
    if (finalRes.status !== 204) await finishFromHead(url, data);

    const h = await head(url);
    expect(h.status).toBe(200);
    expect(h.headers['upload-offset']).toBe(String(size));
    expect(h.headers['object-key']).toBe(`models/stampede/${filename}`);
    expect((await raw(gw.url + objectPath(key))).body.equals(data)).toBe(true);
    expect(await metricValue(gw.url, 'gateway_uploads_finished_total')).toBe(finishedBefore + 1);
    expect((await raw(`${gw.url}/api/uploads/${id}`)).json).toMatchObject({ status: 'done', key });
  });

  it('empty PATCHes at offset == length arriving during finalization get the same answer as the final PATCH', async () => {
    // The lock is released before onUploadFinish runs (docs/tus-server-notes.md #4): these reach the finalizer while it works.
    const size = usesS3Datastore(pairing) ? 10 * MiB : 8 * MiB;
    const data = randomData(size);
    const filename = uniqueName('during');
    const finishedBefore = await metricValue(gw.url, 'gateway_uploads_finished_total');
    const { url } = await createUpload(gw.url, { length: size, metadata: { filename, owner: 'during' } });
    const final = patch(url, 0, data);
    const empties: Array<Promise<{ status: number; key?: string; body: string }>> = [];
    for (let i = 0; i < 40; i++) {
      empties.push(
        sleep(i * 10).then(async () => {
          const r = await patch(url, size, Buffer.alloc(0));
          return { status: r.status, key: r.headers['object-key'] as string | undefined, body: r.text };
        }),
      );
    }
    const [finalRes, ...rest] = await Promise.all([final, ...empties]);
    expect(finalRes.status, finalRes.text).toBe(204);
    expect(finalRes.headers['object-key']).toBe(`models/during/${filename}`);
    for (const r of rest) {
      expect(r.status, r.body).toBeLessThan(500);
      if (r.status === 204) expect(r.key).toBe(`models/during/${filename}`);
    }
    expect(await metricValue(gw.url, 'gateway_uploads_finished_total')).toBe(finishedBefore + 1);
    expect((await raw(gw.url + objectPath(`models/during/${filename}`))).body.equals(data)).toBe(true);
  });

  it('two tus-js-clients resuming the same upload URL at once leave one byte-exact object, finalized once', async () => {
    const size = usesS3Datastore(pairing) ? 12 * MiB : 3 * MiB;
    const chunkSize = usesS3Datastore(pairing) ? 5 * MiB : 512 * 1024;
    const data = randomData(size);
    const filename = uniqueName('twins');
    const metadata = { filename, owner: 'twins' };
    const finishedBefore = await metricValue(gw.url, 'gateway_uploads_finished_total');
    const { url } = await createUpload(gw.url, { length: size, metadata });
    const results = await Promise.allSettled([
      clientUpload(`${gw.url}/files`, data, { uploadUrl: url, chunkSize, metadata, retryDelays: [100, 300, 600, 1000, 2000] }),
      clientUpload(`${gw.url}/files`, data, { uploadUrl: url, chunkSize, metadata, retryDelays: [100, 300, 600, 1000, 2000] }),
    ]);
    // Neither may start a second upload: a POST would create another id and a second finalization.
    for (const r of results) if (r.status === 'fulfilled') expect(r.value.requests).not.toContain('POST');
    await finishFromHead(url, data);
    expect((await raw(gw.url + objectPath(`models/twins/${filename}`))).body.equals(data)).toBe(true);
    expect(await metricValue(gw.url, 'gateway_uploads_finished_total')).toBe(finishedBefore + 1);
  });

  it('status polls (GET /api/uploads/{id}) during a slow PATCH never disturb it (docs/tus-server-notes.md #12)', async () => {
    const size = usesS3Datastore(pairing) ? 6 * MiB : 1 * MiB;
    const data = randomData(size);
    const filename = uniqueName('polled');
    const { url, id } = await createUpload(gw.url, { length: size, metadata: { filename, owner: 'polled' } });
    let uploading = true;
    const sending = slowPatch(url, 0, data, size / 48, 75).finally(() => (uploading = false)); // ~3.6 s, past the lock drain timeout
    const seen: Array<{ status: string; offset: number }> = [];
    while (uploading) {
      const res = await raw(`${gw.url}/api/uploads/${id}`);
      expect(res.status, res.text).toBe(200);
      seen.push({ status: res.json.status, offset: res.json.offset });
      await sleep(100);
    }
    const result = await sending;
    expect(result).toMatchObject({ status: 204, offset: String(size) });
    expect(seen.length).toBeGreaterThan(10);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.offset).toBeGreaterThanOrEqual(seen[i - 1]!.offset);
    expect((await raw(`${gw.url}/api/uploads/${id}`)).json).toMatchObject({ status: 'done', offset: size, key: `models/polled/${filename}` });
    expect((await raw(gw.url + objectPath(`models/polled/${filename}`))).body.equals(data)).toBe(true);
  });

  it('hard status polls during a multi-PATCH upload and its finalization: the offset never goes back', async () => {
    // s3: PATCHes that leave an incomplete part, which the next write takes down and re-uploads.
    const pieces = usesS3Datastore(pairing) ? [3 * MiB, 3 * MiB, 4 * MiB] : [512 * 1024, 512 * 1024, 1024 * 1024];
    const size = pieces.reduce((a, b) => a + b, 0);
    const data = randomData(size);
    const filename = uniqueName('hardpoll');
    const { url, id } = await createUpload(gw.url, { length: size, metadata: { filename, owner: 'hardpoll' } });
    let stop = false;
    const poller = async () => {
      const seen: Array<{ status: string; offset: number }> = [];
      while (!stop) {
        const res = await raw(`${gw.url}/api/uploads/${id}`);
        expect(res.status, res.text).toBe(200);
        seen.push({ status: res.json.status, offset: res.json.offset });
        if (res.json.status === 'done') break;
      }
      return seen;
    };
    const polling = Promise.all([poller(), poller(), poller()]);
    let offset = 0;
    for (const n of pieces) {
      const res = await patch(url, offset, data.subarray(offset, offset + n));
      expect(res.status, res.text).toBe(204);
      offset += n;
    }
    const timer = setTimeout(() => (stop = true), 10_000);
    const runs = await polling;
    clearTimeout(timer);
    for (const seen of runs) {
      expect(seen.length).toBeGreaterThan(5);
      for (let i = 1; i < seen.length; i++) {
        expect(seen[i]!.offset, JSON.stringify(seen.slice(Math.max(0, i - 3), i + 1))).toBeGreaterThanOrEqual(seen[i - 1]!.offset);
      }
      expect(seen.at(-1)).toEqual({ status: 'done', offset: size });
    }
    expect((await raw(gw.url + objectPath(`models/hardpoll/${filename}`))).body.equals(data)).toBe(true);
  });

  it('is still alive after all of the above', async () => {
    expect((await raw(`${gw.url}/healthz`)).status).toBe(200);
  });
});
