import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw } from '../gateway/pairings.ts';
import { bearer, KEYS, startAuthGateway, type AuthGateway } from './support.ts';

/** server.cors.origins over a real socket: exact origins and /regex/ strings, in auth.mode token. */
describe('CORS (server.cors.origins)', () => {
  let gw: AuthGateway;
  const ALLOWED = 'https://app.example.com';
  const PATTERNED = 'https://team-42.models.example.org';
  const ROUTES: Array<[string, string]> = [
    ['POST', '/files'],
    ['PATCH', '/files/abc'],
    ['HEAD', '/files/abc'],
    ['DELETE', '/files/abc'],
    ['GET', '/api/objects'],
    ['GET', '/api/objects/models/alice/m.bin'],
    ['DELETE', '/api/objects/models/alice/m.bin'],
    ['POST', '/api/presign'],
    ['GET', '/api/uploads/abc'],
    ['GET', '/api/whoami'],
    ['GET', '/api/config'],
    ['PUT', '/storage/models/alice/m.bin'],
    ['GET', '/metrics'],
  ];

  beforeAll(async () => {
    gw = await startAuthGateway('file+localfs', { server: { cors: { origins: [ALLOWED, '/^https://team-\\d+\\.models\\.example\\.org$/'] } } });
  }, 60_000);
  afterAll(() => gw?.close());

  const preflight = (origin: string, method: string, path: string) =>
    raw(gw.url + path, {
      method: 'OPTIONS',
      headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'authorization, content-type, tus-resumable, upload-metadata' },
    });

  it('answers the preflight of every route for an allowed origin (exact or /regex/), Authorization allowed, without a credential', async () => {
    for (const origin of [ALLOWED, PATTERNED]) {
      for (const [method, path] of ROUTES) {
        const r = await preflight(origin, method, path);
        expect(r.status, `${method} ${path}`).toBe(204);
        expect(r.headers['access-control-allow-origin'], `${method} ${path}`).toBe(origin);
        expect(String(r.headers['access-control-allow-methods'])).toContain(method);
        expect(String(r.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
      }
    }
  });

  it('an actual request from an allowed origin is readable (echoed origin, exposed tus headers), also its 401', async () => {
    const ok = await raw(`${gw.url}/api/whoami`, { headers: { Origin: PATTERNED, ...bearer(KEYS.alice) } });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe(PATTERNED);
    expect(ok.headers.vary).toMatch(/Origin/i);
    const denied = await raw(`${gw.url}/api/whoami`, { headers: { Origin: ALLOWED } });
    expect(denied.status).toBe(401);
    expect(denied.headers['access-control-allow-origin']).toBe(ALLOWED);
    const post = await raw(`${gw.url}/files`, { method: 'POST', headers: { Origin: ALLOWED, ...bearer(KEYS.alice), 'Tus-Resumable': '1.0.0', 'Upload-Length': '1' } });
    expect(post.status).toBe(201);
    expect(String(post.headers['access-control-expose-headers'])).toMatch(/Location/i);
    expect(String(post.headers['access-control-expose-headers'])).toMatch(/Upload-Offset/i);
  });

  it('a disallowed origin gets no Access-Control-Allow-Origin, on preflights and on requests', async () => {
    for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.net', 'https://team-x.models.example.org', 'null']) {
      for (const [method, path] of ROUTES) {
        const r = await preflight(origin, method, path);
        expect(r.headers['access-control-allow-origin'], `${origin} ${method} ${path}`).toBeUndefined();
      }
      const r = await raw(`${gw.url}/api/whoami`, { headers: { Origin: origin, ...bearer(KEYS.alice) } });
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
      expect(r.headers['access-control-expose-headers']).toBeUndefined();
    }
  });
});
