/**
 * The preCreate hook, against a real HTTP service started here: it is asked before
 * every creation with owner, scopes, key, size and metadata; it allows (merging
 * metadata into what is stored) or refuses with its status and message; a timeout,
 * a 5xx or garbage fails closed with 503 — and nothing is created unless it said yes.
 * On file+localfs and s3+s3 (the Ceph RGW of the test set-up).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../support/gateway.ts';
import { readStoredObject } from '../gateway/crash-kit.ts';
import { createUpload, encodeMetadata, pairingEnv, patch, raw, tusArtifacts, tusHeaders, uniqueName, type TestGateway } from '../gateway/pairings.ts';
import { hooksYaml, Receiver, type Answer } from './receiver.ts';

for (const pairing of ['file+localfs', 's3+s3'] as const) {
  describe(`preCreate hook (${pairing})`, () => {
    let hook: Receiver;
    let gw: TestGateway;
    let answer: Answer = { status: 200, body: '{"allow":true}' };

    beforeAll(async () => {
      hook = await Receiver.start(() => answer);
      const env = await pairingEnv(pairing);
      const started = await startGateway({ env, yaml: hooksYaml({ preCreate: { url: `${hook.url}/pre-create`, timeout: '500ms' } }) });
      gw = Object.assign(started, { pairing, env: { ...env } }) as TestGateway;
    });
    afterAll(async () => {
      await gw?.close();
      await hook?.stop();
    });

    const post = (metadata: Record<string, string>, length = 11) =>
      raw(`${gw.url}/files`, { method: 'POST', headers: tusHeaders({ 'Upload-Length': String(length), 'Upload-Metadata': encodeMetadata(metadata) }) });
    const artifacts = async () => (await tusArtifacts(gw)).filter((f) => !f.includes('/outbox/'));

    it('asks with owner, scopes, key, size and metadata, and stores the metadata it merges in', async () => {
      answer = { status: 200, body: JSON.stringify({ allow: true, metadata: { team: 'vision', filename: 'approved.onnx' } }) };
      const asked = uniqueName('asked');
      const before = hook.received.length;
      const { url } = await createUpload(gw.url, { length: 11, metadata: { filename: asked, owner: 'alice', filetype: 'application/octet-stream' } });
      expect(hook.received.length).toBe(before + 1);
      const call = hook.received.at(-1)!;
      expect(call.path).toBe('/pre-create');
      expect(call.headers['content-type']).toBe('application/json');
      expect(JSON.parse(call.body)).toEqual({
        owner: 'alice',
        scopes: ['upload', 'read', 'delete'],
        key: `models/alice/${asked}`,
        size: 11,
        metadata: { filename: asked, owner: 'alice', filetype: 'application/octet-stream' },
      });
      const done = await patch(url, 0, Buffer.from('hello world'));
      expect(done.status, done.text).toBe(204);
      expect(done.headers['object-key']).toBe('models/alice/approved.onnx');
      const stored = await readStoredObject(gw.env, gw.dataDir, 'models/alice/approved.onnx');
      expect(stored.size).toBe(11);
      expect(stored.metadata.team).toBe('vision');
      expect(stored.metadata.filename).toBe('approved.onnx');
    });

    it('refuses with the status and message the hook answers, creating nothing', async () => {
      answer = { status: 200, body: JSON.stringify({ allow: false, status: 403, message: 'alice has no quota left' }) };
      const before = await artifacts();
      const res = await post({ filename: uniqueName('refused'), owner: 'alice' });
      expect(res.status).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.json).toEqual({ error: { code: 'UploadRefused', message: 'alice has no quota left' } });
      expect(res.headers.location).toBeUndefined();
      expect(await artifacts()).toEqual(before);
    });

    it('passes another 4xx of the hook through (422)', async () => {
      answer = { status: 200, body: JSON.stringify({ allow: false, status: 422, message: 'not an ONNX file name' }) };
      const res = await post({ filename: uniqueName('bad') });
      expect(res.status).toBe(422);
      expect(res.json.error.message).toBe('not an ONNX file name');
    });

    const failsClosed: Array<[string, Answer]> = [
      ['times out', { status: 200, body: '{"allow":true}', delayMs: 1500 }],
      ['answers garbage', { status: 200, body: 'yes please' }],
      ['answers JSON of the wrong shape', { status: 200, body: '{"allow":"yes"}' }],
      ['refuses with a status that is not 4xx', { status: 200, body: '{"allow":false,"status":200,"message":"ok?"}' }],
      ['answers 500', { status: 500, body: '{"allow":true}' }],
    ];
    for (const [what, a] of failsClosed) {
      it(`fails closed with 503 when the hook ${what}, creating nothing`, async () => {
        answer = a;
        const before = await artifacts();
        const started = Date.now();
        const res = await post({ filename: uniqueName('closed'), owner: 'bob' });
        expect(res.status, res.text).toBe(503);
        expect(res.json.error.code).toBe('ServiceUnavailable');
        expect(res.json.error.message).toMatch(/preCreate hook/);
        expect(Date.now() - started).toBeLessThan(1400); // the 500 ms timeout, not the hook's 1.5 s
        expect(await artifacts()).toEqual(before);
      });
    }

    it('fails closed with 503 when the hook is down', async () => {
      await hook.stop();
      try {
        const res = await post({ filename: uniqueName('down') });
        expect(res.status).toBe(503);
      } finally {
        await hook.listen();
      }
    });

    it('fails closed with 503 when the merged metadata makes an invalid key', async () => {
      answer = { status: 200, body: JSON.stringify({ allow: true, metadata: { filename: '../escape' } }) };
      const res = await post({ filename: uniqueName('ok') });
      expect(res.status).toBe(503);
      expect(res.json.error.message).toMatch(/invalid upload/);
    });
  });
}
