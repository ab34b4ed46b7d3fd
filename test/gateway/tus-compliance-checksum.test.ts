/**
 * The checksum scenarios of the public tus compliance suite (sagikazarmark/tus-compliance-tests,
 * Hurl files run by the `hurl` binary, which cannot be installed here — see docs/integrity.md),
 * restated over real sockets against the gateway with `checksum` advertised, on both datastores.
 */
import { describe, expect, it } from 'vitest';
import { OCTETS, head, patch, raw, usePairingGateway, tusHeaders } from './pairings.ts';

const BODY = Buffer.from('Hello, tus!\n'); // 12 bytes
const GOOD_SHA1 = 'sha1 E7X121m3do5RTtnrOi5XTG9Uq0A=';
const BAD_SHA1 = 'sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAAA';

describe.each(['file+localfs', 's3+s3'] as const)('tus compliance, checksum extension, on %s', { timeout: 60_000 }, (pairing) => {
  const gw = usePairingGateway(pairing);

  const create = async (length: number) => {
    const res = await raw(`${gw.url}/files`, { method: 'POST', headers: tusHeaders({ 'Upload-Length': String(length) }) });
    expect(res.status).toBe(201);
    return new URL(String(res.headers.location), gw.url).toString();
  };

  it('the sha1 digest of the fixed body is what the suite uses', async () => {
    const { createHash } = await import('node:crypto');
    expect(`sha1 ${createHash('sha1').update(BODY).digest('base64')}`).toBe(GOOD_SHA1);
  });

  it('EXT-CSUM-001/002: OPTIONS lists the algorithms, sha1 among them, in the header grammar', async () => {
    const res = await raw(`${gw.url}/files`, { method: 'OPTIONS' });
    expect(res.headers['tus-checksum-algorithm']).toMatch(/^[a-z0-9-]+(,[a-z0-9-]+)*$/);
    expect(String(res.headers['tus-checksum-algorithm']).split(',')).toContain('sha1');
  });

  it('EXT-CSUM-003/007, OPT-CSUM-002: a PATCH with the right checksum is stored', async () => {
    const url = await create(12);
    const res = await patch(url, 0, BODY, { 'Upload-Checksum': GOOD_SHA1 });
    expect(res.status).toBe(204);
    expect(res.headers['upload-offset']).toBe('12');
  });

  it('EXT-CSUM-004/005/008, SCN-ERROR-002: a wrong checksum is 460, the offset stays, a retry succeeds', async () => {
    const url = await create(12);
    expect((await patch(url, 0, BODY, { 'Upload-Checksum': BAD_SHA1 })).status).toBe(460);
    const h = await head(url);
    expect(h.status).toBe(200);
    expect(h.headers['upload-offset']).toBe('0');
    const retry = await patch(url, 0, BODY, { 'Upload-Checksum': GOOD_SHA1 });
    expect(retry.status).toBe(204);
    expect(retry.headers['upload-offset']).toBe('12');
  });

  it('EXT-CSUM-006: an unknown algorithm is 400', async () => {
    const url = await create(12);
    expect((await patch(url, 0, BODY, { 'Upload-Checksum': 'unknownalgo AAAAAAAAAA' })).status).toBe(400);
  });

  it('OPT-CSUM-001: an empty upload has offset 0', async () => {
    const url = await create(0);
    const h = await head(url);
    expect(h.status).toBe(200);
    expect(h.headers['upload-offset']).toBe('0');
  });

  it('OPT-CSUM-003: creation-with-upload takes a checksummed body', async () => {
    const res = await raw(`${gw.url}/files`, {
      method: 'POST',
      headers: tusHeaders({ 'Upload-Length': '12', 'Content-Type': OCTETS, 'Upload-Checksum': GOOD_SHA1 }),
      body: BODY,
    });
    expect(res.status).toBe(201);
    expect(res.headers.location).toBeTruthy();
    expect(res.headers['upload-offset']).toBe('12');
  });
});
