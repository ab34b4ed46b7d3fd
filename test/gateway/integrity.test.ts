/**
 * Integrity end to end (docs/integrity.md) on the file+localfs and s3+s3 pairings, over
 * real sockets: the tus checksum extension per request, and the declared sha256 of the
 * whole file checked at finalization.
 */
import { createHash, randomInt } from 'node:crypto';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  OCTETS,
  MiB,
  createUpload,
  head,
  objectInfo,
  objectPath,
  patch,
  randomData,
  raw,
  sha256Hex,
  usePairingGateway,
  tusArtifacts,
  tusHeaders,
  uniqueName,
} from './pairings.ts';

const checksum = (alg: 'sha1' | 'sha256' | 'md5', data: Buffer) => `${alg} ${createHash(alg).update(data).digest('base64')}`;

/** A copy of `data` with one byte flipped at a random offset. */
function corrupt(data: Buffer): Buffer {
  const bad = Buffer.from(data);
  const at = randomInt(bad.length);
  bad[at] = bad[at]! ^ 0xff;
  return bad;
}

describe.each(['file+localfs', 's3+s3'] as const)('integrity on %s', { timeout: 120_000 }, (pairing) => {
  const gw = usePairingGateway(pairing);
  const s3 = pairing === 's3+s3';
  const chunk = s3 ? 5 * MiB : 512 * 1024;
  const size = s3 ? 12 * MiB : 2 * MiB + 12345;

  const offsetOf = async (url: string) => Number((await head(url)).headers['upload-offset']);

  it('advertises the checksum extension and its algorithms on OPTIONS', async () => {
    const res = await raw(`${gw.url}/files`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(String(res.headers['tus-extension']).split(',')).toContain('checksum');
    expect(res.headers['tus-checksum-algorithm']).toBe('sha1,sha256,md5');
  });

  it('refuses chunks corrupted at random offsets with 460 and keeps nothing of them; resent right, the file ends byte-exact', async () => {
    const data = randomData(size);
    const name = uniqueName('corrupt');
    const { url, id } = await createUpload(gw.url, { length: size, metadata: { filename: name, sha256: sha256Hex(data) } });
    let offset = 0;
    let refused = 0;
    const algs = ['sha256', 'sha1', 'md5'] as const;
    for (let i = 0; offset < size; i++) {
      const piece = data.subarray(offset, Math.min(size, offset + chunk));
      const alg = algs[i % algs.length]!;
      // Every other chunk first arrives damaged, under the checksum of the good bytes.
      if (i % 2 === 0) {
        const before = await tusArtifacts(gw);
        const bad = await patch(url, offset, corrupt(piece), { 'Upload-Checksum': checksum(alg, piece) });
        expect(bad.status).toBe(460);
        expect(bad.json?.error?.code).toBe('ChecksumMismatch');
        expect(await offsetOf(url)).toBe(offset);
        expect((await raw(`${gw.url}/api/uploads/${id}`)).json.offset).toBe(offset);
        // Nothing of the refused request is kept: the same files and objects, same sizes (the offset above).
        expect(await tusArtifacts(gw)).toEqual(before);
        refused++;
      }
      const good = await patch(url, offset, piece, { 'Upload-Checksum': checksum(alg, piece) });
      expect(good.status, good.text).toBe(204);
      offset += piece.length;
      expect(Number(good.headers['upload-offset'])).toBe(offset);
    }
    expect(refused).toBeGreaterThan(0);
    const key = `models/anonymous/${name}`;
    const info = await objectInfo(gw.url, key);
    expect(info?.metadata.sha256).toBe(sha256Hex(data));
    const body = (await raw(`${gw.url}${objectPath(key)}`)).body;
    expect(body.equals(data)).toBe(true);
  });

  it('refuses an unknown algorithm and a malformed Upload-Checksum with 400, storing nothing', async () => {
    const data = randomData(1000);
    const { url } = await createUpload(gw.url, { length: 2000, metadata: { filename: uniqueName('alg') } });
    for (const value of ['crc32 AAAAAA==', 'sha256', 'sha256 not*base64', 'sha1 a b', 'unknownalgo AAAAAAAAAA']) {
      const res = await patch(url, 0, data, { 'Upload-Checksum': value });
      expect(res.status, value).toBe(400);
      expect(res.json?.error?.code).toBe('InvalidArgument');
    }
    expect(await offsetOf(url)).toBe(0);
    // A well-formed digest of the wrong length cannot match any body: 460, as for any wrong digest.
    const short = await patch(url, 0, data, { 'Upload-Checksum': `sha256 ${Buffer.alloc(20).toString('base64')}` });
    expect(short.status).toBe(460);
    expect(await offsetOf(url)).toBe(0);
  });

  it('keeps nothing of a checksummed body cut mid-way', async () => {
    const data = randomData(s3 ? 6 * MiB : 256 * 1024);
    const { url } = await createUpload(gw.url, { length: data.length, metadata: { filename: uniqueName('cut') } });
    const path = new URL(url).pathname;
    const { port } = new URL(gw.url);
    await new Promise<void>((resolve, reject) => {
      const sock = connect(Number(port), '127.0.0.1', () => {
        sock.write(
          `PATCH ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n` +
            `Content-Type: ${OCTETS}\r\nContent-Length: ${data.length}\r\nUpload-Checksum: ${checksum('sha256', data)}\r\n\r\n`,
        );
        sock.write(data.subarray(0, data.length >> 1), () => setTimeout(() => sock.destroy(), 300));
      });
      sock.on('error', reject);
      sock.on('close', () => resolve());
    });
    // The gateway notices the cut; nothing of the half body counts.
    for (let i = 0; i < 50 && (await raw(`${gw.url}/api/uploads/${new URL(url).pathname.split('/').pop()}`)).json.offset !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await offsetOf(url)).toBe(0);
    const res = await patch(url, 0, data, { 'Upload-Checksum': checksum('sha256', data) });
    expect(res.status).toBe(204);
  });

  it('checks Upload-Checksum on creation-with-upload: a mismatch is 460 and leaves no upload behind', async () => {
    const data = randomData(4096);
    const name = uniqueName('cwu');
    const headers = tusHeaders({
      'Upload-Length': String(data.length),
      'Upload-Metadata': `filename ${Buffer.from(name).toString('base64')}`,
      'Content-Type': OCTETS,
    });
    const before = await tusArtifacts(gw);
    const bad = await raw(`${gw.url}/files`, { method: 'POST', headers: { ...headers, 'Upload-Checksum': checksum('md5', corrupt(data)) }, body: data });
    expect(bad.status).toBe(460);
    expect(bad.json?.error?.code).toBe('ChecksumMismatch');
    expect(await tusArtifacts(gw)).toEqual(before);
    const good = await raw(`${gw.url}/files`, { method: 'POST', headers: { ...headers, 'Upload-Checksum': checksum('sha1', data) }, body: data });
    expect(good.status).toBe(201);
    expect(good.headers['object-key']).toBe(`models/anonymous/${name}`);
  });

  it('refuses a malformed declared sha256 at creation with 400', async () => {
    for (const sha256 of ['', 'abc', 'g'.repeat(64), '0'.repeat(63)]) {
      const res = await raw(`${gw.url}/files`, {
        method: 'POST',
        headers: tusHeaders({ 'Upload-Length': '10', 'Upload-Metadata': `filename ${Buffer.from('x.bin').toString('base64')},sha256 ${Buffer.from(sha256).toString('base64')}` }),
      });
      expect(res.status, sha256).toBe(400);
    }
  });

  it('answers a wrong declared sha256 with 460 on the final request: no object, status failed with the reason', async () => {
    const data = randomData(s3 ? 6 * MiB : 300_000);
    const name = uniqueName('declared');
    const wrong = sha256Hex(corrupt(data));
    const { url, id } = await createUpload(gw.url, { length: data.length, metadata: { filename: name, sha256: wrong } });
    const res = await patch(url, 0, data, { 'Upload-Checksum': checksum('sha256', data) });
    expect(res.status).toBe(460);
    expect(res.json?.error?.code).toBe('ChecksumMismatch');
    expect(res.json?.error?.message).toContain(wrong);
    expect(await objectInfo(gw.url, `models/anonymous/${name}`)).toBeUndefined();
    const status = (await raw(`${gw.url}/api/uploads/${id}`)).json;
    expect(status.status).toBe('failed');
    expect(status.error).toContain(sha256Hex(data));
    // A resuming client learns the same, and still no object appears.
    expect((await head(url)).status).toBe(460);
    expect((await patch(url, data.length, Buffer.alloc(0))).status).toBe(460);
    expect(await objectInfo(gw.url, `models/anonymous/${name}`)).toBeUndefined();
  });

  it('accepts a right declared sha256 in any case of hex', async () => {
    const data = randomData(5000);
    const name = uniqueName('declared-ok');
    const { url } = await createUpload(gw.url, { length: data.length, metadata: { filename: name, sha256: sha256Hex(data).toUpperCase() } });
    const res = await patch(url, 0, data);
    expect(res.status).toBe(204);
    expect((await objectInfo(gw.url, `models/anonymous/${name}`))?.metadata.sha256).toBe(sha256Hex(data));
  });
});
