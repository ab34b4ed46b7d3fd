import { describe, expect, it } from 'vitest';
import { encodeMetadata, raw, usePairingGateway, tusArtifacts, tusHeaders } from './pairings.ts';

// S3 keeps at most 2 KB of user metadata. An upload whose metadata would not fit is refused
// when it is created — not after its last byte, when finalization would fail.
describe.each(['s3+s3', 'file+s3'] as const)('object metadata that S3 cannot keep, on %s', (pairing) => {
  const gw = usePairingGateway(pairing);

  const post = (metadata: Record<string, string>) =>
    raw(`${gw.url}/files`, { method: 'POST', headers: tusHeaders({ 'Upload-Length': '5', 'Upload-Metadata': encodeMetadata(metadata) }) });

  it('refuses at creation, with a JSON 400 and nothing created, metadata over 2 KB as S3 metadata', async () => {
    const before = await tusArtifacts(gw);
    // ~2.1 KB of UTF-8: under tus.maxMetadataSize (4 KiB) as a header, over S3's limit as metadata.
    const res = await post({ filename: 'big-meta.bin', description: 'ü'.repeat(1100) });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'InvalidArgument' } });
    expect((res.json as { error: { message: string } }).error.message).toMatch(/S3 keeps at most 2048/);
    expect(await tusArtifacts(gw)).toEqual(before);
  });

  it('accepts metadata that fits, and keeps it on the object', async () => {
    const res = await post({ filename: 'ok-meta.bin', owner: 'meta', description: 'ü'.repeat(300) });
    expect(res.status).toBe(201);
    const url = new URL(String(res.headers.location), gw.url).toString();
    const fin = await raw(url, {
      method: 'PATCH',
      headers: tusHeaders({ 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }),
      body: Buffer.from('hello'),
    });
    expect(fin.status).toBe(204);
    const info = await raw(`${gw.url}/api/objects?prefix=models/meta/ok-meta.bin`);
    expect((info.json as { objects: Array<{ metadata: Record<string, string> }> }).objects[0]!.metadata.description).toBe('ü'.repeat(300));
  });
});
