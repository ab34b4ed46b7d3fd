import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JWKS_COOLDOWN_MS } from '../../server/auth/jwt.ts';
import { raw } from '../gateway/pairings.ts';
import { bearer, startAuthGateway, type AuthGateway } from './support.ts';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'upload-gateway';

/** A JWKS endpoint over real HTTP, whose key set the test changes (a rotation), counting fetches. */
async function jwksServer() {
  let keys: JWK[] = [];
  let fetches = 0;
  const server: Server = createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    setKeys: (k: JWK[]) => (keys = k),
    fetches: () => fetches,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function keyPair(alg: string, kid: string) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } as JWK };
}

/** Every token the tests made: none may reach a log line. */
const issued: string[] = [];

async function token(key: { privateKey: CryptoKey | Uint8Array; alg: string; kid?: string }, claims: Record<string, unknown> = {}, opts: { exp?: string | number; iss?: string; aud?: string } = {}) {
  const t = await new SignJWT({ sub: 'alice', ...claims })
    .setProtectedHeader({ alg: key.alg, ...(key.kid ? { kid: key.kid } : {}) })
    .setIssuedAt()
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setExpirationTime(opts.exp ?? '5m')
    .sign(key.privateKey);
  issued.push(t);
  return t;
}

describe('JWT from a JWKS over HTTP', () => {
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let gw: AuthGateway;
  let rs: Awaited<ReturnType<typeof keyPair>>;
  let es: Awaited<ReturnType<typeof keyPair>>;

  beforeAll(async () => {
    jwks = await jwksServer();
    rs = await keyPair('RS256', 'k1');
    es = await keyPair('ES256', 'k2');
    jwks.setKeys([rs.jwk]);
    gw = await startAuthGateway('file+localfs', { auth: { jwt: { jwksUrl: jwks.url, issuer: ISSUER, audience: AUDIENCE, clockTolerance: '5s' } } });
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await jwks?.close();
  });

  const whoami = (t: string) => raw(`${gw.url}/api/whoami`, { headers: bearer(t) });

  it('a good token acts for its sub, with the default scopes when it has no scope claim', async () => {
    const r = await whoami(await token(rs));
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ owner: 'alice', scopes: ['upload', 'read', 'delete'], via: 'jwt' });
    const scoped = await whoami(await token(rs, { scope: 'read admin bogus' }));
    expect(scoped.json.scopes).toEqual(['read', 'admin']);
  });

  it('expired, wrong key, alg none, wrong audience, wrong issuer, garbage → 401 invalid_token', async () => {
    const other = await keyPair('RS256', 'k1'); // same kid, another key
    const bad = {
      expired: await token(rs, {}, { exp: Math.floor(Date.now() / 1000) - 60 }),
      wrongKey: await token(other),
      none: new UnsecuredJWT({ sub: 'alice' }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m').encode(),
      wrongAudience: await token(rs, {}, { aud: 'someone-else' }),
      wrongIssuer: await token(rs, {}, { iss: 'https://evil.test' }),
      // HS256 with the RSA public key as the secret: the classic alg confusion.
      hsConfusion: await token({ alg: 'HS256', kid: 'k1', privateKey: new TextEncoder().encode(JSON.stringify(rs.jwk)) }),
      noOwner: await token(rs, { sub: undefined }),
      garbage: 'abc.def.ghi',
    };
    for (const [name, t] of Object.entries(bad)) {
      const r = await whoami(t);
      expect(r.status, name).toBe(401);
      expect(r.headers['www-authenticate'], name).toBe('Bearer realm="upload-gateway", error="invalid_token"');
      expect(r.json.error.code, name).toBe('Unauthorized');
      expect(r.text, name).not.toContain(t);
    }
    // A token whose exp is just past, inside clockTolerance, is still good.
    expect((await whoami(await token(rs, {}, { exp: Math.floor(Date.now() / 1000) - 2 }))).status).toBe(200);
  });

  it('a rotation: a new kid is picked up by refetching the JWKS, at most once per cooldown', async () => {
    jwks.setKeys([rs.jwk, es.jwk]);
    const before = jwks.fetches();
    // A burst of tokens with unknown kids while in the cooldown: no more than one fetch.
    const ghosts = await Promise.all(Array.from({ length: 10 }, (_, i) => keyPair('ES256', `ghost${i}`).then((k) => token(k))));
    const results = await Promise.all(ghosts.map(whoami));
    expect(results.every((r) => r.status === 401)).toBe(true);
    expect(jwks.fetches() - before).toBeLessThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, JWKS_COOLDOWN_MS + 200));
    const r = await whoami(await token(es));
    expect(r.status).toBe(200);
    expect(r.json.owner).toBe('alice');
    // The old key still works while the set still carries it.
    expect((await whoami(await token(rs))).status).toBe(200);
  }, 30_000);

  it('no token, good or bad, reaches the log (nor its signature)', async () => {
    await whoami(await token(rs));
    const logs = gw.logs();
    expect(logs).toContain('"path":"/api/whoami"');
    expect(issued.length).toBeGreaterThan(10);
    for (const t of issued) {
      expect(logs).not.toContain(t);
      expect(logs).not.toContain(t.split('.')[2]);
    }
    expect(logs.toLowerCase()).not.toContain('bearer ');
  });
});

describe('JWT with an HS256 secret', () => {
  let gw: AuthGateway;
  const secret = 'x'.repeat(40);
  beforeAll(async () => {
    gw = await startAuthGateway('file+localfs', { auth: { jwt: { secret, ownerClaim: 'owner', scopeClaim: 'perms' } } });
  }, 60_000);
  afterAll(() => gw?.close());

  it('verifies HS256 with the secret, takes ownerClaim and scopeClaim (an array)', async () => {
    const key = { alg: 'HS256', privateKey: new TextEncoder().encode(secret) };
    const t = await new SignJWT({ owner: 'dave', perms: ['read'] }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1m').sign(key.privateKey);
    const r = await raw(`${gw.url}/api/whoami`, { headers: bearer(t) });
    expect(r.json).toEqual({ owner: 'dave', scopes: ['read'], via: 'jwt' });
    // read only: no uploads.
    const post = await raw(`${gw.url}/files`, { method: 'POST', headers: { ...bearer(t), 'Tus-Resumable': '1.0.0', 'Upload-Length': '1' } });
    expect(post.status).toBe(403);
    const wrong = await new SignJWT({ owner: 'dave' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1m').sign(new TextEncoder().encode('y'.repeat(40)));
    expect((await raw(`${gw.url}/api/whoami`, { headers: bearer(wrong) })).status).toBe(401);
  });
});
