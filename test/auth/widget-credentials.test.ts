import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCredentials } from '../../client/src/credentials.ts';
import { describeFailure } from '../../client/src/messages.ts';
import { resolveOptions } from '../../client/src/options.ts';

/** The widget's credential handling (client/src/credentials.ts) against a real HTTP server that accepts one token. */
let server: Server;
let base: string;
let accepted = 'good-2';
const seen: Array<string | undefined> = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    seen.push(req.headers.authorization);
    const ok = req.headers.authorization === `Bearer ${accepted}`;
    res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' }).end(JSON.stringify(ok ? { owner: 'alice' } : { error: { code: 'Unauthorized', message: 'no' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

describe('widget credentials (token / getToken)', () => {
  it('getToken() is asked once, then again after a 401, and the request is sent again with the new token', async () => {
    seen.length = 0;
    const tokens = ['stale-1', 'good-2', 'never-3'];
    let calls = 0;
    const creds = createCredentials(null, async () => tokens[calls++]!);
    const res = await creds.fetch(`${base}/api/whoami`);
    expect(res.status).toBe(200);
    expect(seen).toEqual(['Bearer stale-1', 'Bearer good-2']);
    expect(calls).toBe(2);
    // The good token is kept: no new call while it works.
    expect((await creds.fetch(`${base}/api/whoami`)).status).toBe(200);
    expect(calls).toBe(2);
  });

  it('a 401 with a fixed token stays a 401 (nothing new to ask for); one refresh per refusal', async () => {
    seen.length = 0;
    const fixed = createCredentials('wrong', null);
    expect((await fixed.fetch(`${base}/x`)).status).toBe(401);
    expect(seen).toEqual(['Bearer wrong']);
    expect(fixed.refresh()).toBe(false);
    seen.length = 0;
    let calls = 0;
    const alwaysBad = createCredentials(null, () => `bad-${calls++}`);
    expect((await alwaysBad.fetch(`${base}/x`)).status).toBe(401);
    expect(seen).toEqual(['Bearer bad-0', 'Bearer bad-1']);
  });

  it('open mode sends no Authorization; a failing getToken() is asked again next time', async () => {
    seen.length = 0;
    const none = createCredentials(null, null);
    expect(none.enabled).toBe(false);
    await none.fetch(`${base}/x`);
    expect(seen).toEqual([undefined]);
    let calls = 0;
    const flaky = createCredentials(null, async () => {
      if (calls++ === 0) throw new Error('login service down');
      return accepted;
    });
    await expect(flaky.headers()).rejects.toThrow('login service down');
    expect(await flaky.headers()).toEqual({ Authorization: `Bearer ${accepted}` });
    await expect(createCredentials(null, async () => '').headers()).rejects.toThrow('getToken() must resolve to a non-empty string');
  });

  it('options: token or getToken, checked at once', () => {
    expect(resolveOptions({ apiBase: 'http://gw', token: 'ugw_x' }, 'http://page/').token).toBe('ugw_x');
    const getToken = async () => 't';
    expect(resolveOptions({ apiBase: 'http://gw', getToken }, 'http://page/').getToken).toBe(getToken);
    expect(() => resolveOptions({ apiBase: 'http://gw', token: '' }, 'http://page/')).toThrow('UploadWidget: token must be a non-empty string');
    expect(() => resolveOptions({ apiBase: 'http://gw', getToken: 'x' as never }, 'http://page/')).toThrow('UploadWidget: getToken must be a function');
    expect(() => resolveOptions({ apiBase: 'http://gw', token: 't', getToken }, 'http://page/')).toThrow('UploadWidget: give token or getToken, not both');
  });

  it('401, 403, QuotaExceeded, 409 and 507 read as what they mean', () => {
    const body = (code: string, message: string) => JSON.stringify({ error: { code, message } });
    expect(describeFailure('m.bin', { status: 401, body: body('Unauthorized', 'Invalid token: "exp" claim timestamp check failed') })).toBe(
      'The upload server did not accept your credentials for “m.bin” (missing, expired or not valid). Sign in again, then retry. The server said: Invalid token: "exp" claim timestamp check failed.',
    );
    expect(describeFailure('m.bin', { status: 403, body: body('AccessDenied', 'This credential may not upload for owner bob') })).toMatch(/^You are not allowed to upload “m\.bin” here/);
    expect(describeFailure('m.bin', { status: 403, body: body('QuotaExceeded', 'limits.ownerBytes: alice uses 10 bytes') })).toBe(
      '“m.bin” would go over your storage quota on this server. Delete some of your models, or ask for a larger quota. The server said: limits.ownerBytes: alice uses 10 bytes.',
    );
    expect(describeFailure('m.bin', { status: 409, body: body('ObjectExists', 'models/alice/m.bin: an object exists at this key') })).toMatch(/^“m\.bin” already exists on the server/);
    expect(describeFailure('m.bin', { status: 507, body: body('InsufficientStorage', 'Not enough disk') })).toBe(
      'The upload server is out of storage space for “m.bin”. Nothing was stored; try again later. The server said: Not enough disk.',
    );
  });
});
