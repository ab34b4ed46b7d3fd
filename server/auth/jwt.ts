import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { Config } from '../config.ts';
import { SCOPES, type Principal, type Scope } from './principal.ts';

type JwtConfig = Config['auth']['jwt'];

// The algorithm comes from the key type, never from the token alone: a secret verifies HS* only,
// a JWKS verifies asymmetric algorithms only (so an RSA public key can never be used as an HMAC secret).
const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** A token with an unknown `kid` refetches the JWKS at most this often (jose's cooldownDuration). */
export const JWKS_COOLDOWN_MS = 5000;
/** A JWT without a scope claim may do this (API contract). */
const DEFAULT_SCOPES: Scope[] = ['upload', 'read', 'delete'];

/** Why a token was refused, for the 401 message: never the token itself. */
export class TokenError extends Error {
  override name = 'TokenError';
}

export type JwtVerifier = (token: string) => Promise<Principal>;

function scopesOf(claim: unknown): Set<Scope> {
  if (claim === undefined) return new Set(DEFAULT_SCOPES);
  const list = typeof claim === 'string' ? claim.split(/\s+/) : Array.isArray(claim) ? claim.map(String) : [];
  return new Set(list.filter((s): s is Scope => (SCOPES as readonly string[]).includes(s)));
}

/** jose's error codes say what failed without repeating any of the token. */
function reason(err: unknown): string {
  const code = (err as { code?: string }).code;
  const claim = (err as { claim?: string }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED': return 'the token has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': return `the token's "${claim}" claim is not accepted`;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return 'the token signature does not verify';
    case 'ERR_JOSE_ALG_NOT_ALLOWED': return 'the token algorithm is not accepted';
    case 'ERR_JWKS_NO_MATCHING_KEY': return 'no key of the issuer matches the token';
    case 'ERR_JWKS_TIMEOUT': return 'the key set (JWKS) did not answer';
    case 'ERR_JWT_INVALID': case 'ERR_JWS_INVALID': return 'the token is malformed';
    default: return 'the token is not valid';
  }
}

/** The JWT verifier of auth.jwt, or undefined when neither a secret nor a JWKS URL is configured. */
export function createJwtVerifier(jwt: JwtConfig): JwtVerifier | undefined {
  const secret = jwt.secret ? new TextEncoder().encode(jwt.secret) : undefined;
  const jwksUrl = jwt.jwksUrl ? new URL(jwt.jwksUrl) : undefined;
  if (!secret && !jwksUrl) return undefined;
  // jose (~0.5 MiB of heap) is imported only when JWTs are configured, and right away (at
  // start-up, not on the first token): open mode and API-key-only gateways never load it.
  const jose = import('jose');
  jose.catch(() => undefined); // awaited by every verification, which reports a failure
  // createRemoteJWKSet caches the set and refetches it when a token names a kid it lacks, at most once per cooldown.
  const jwks: Promise<JWTVerifyGetKey> | undefined = jwksUrl
    ? jose.then((j) => j.createRemoteJWKSet(jwksUrl, { cooldownDuration: JWKS_COOLDOWN_MS, timeoutDuration: 5000 }))
    : undefined;
  jwks?.catch(() => undefined);
  const options = {
    clockTolerance: Math.round(jwt.clockTolerance / 1000),
    ...(jwt.issuer ? { issuer: jwt.issuer } : {}),
    ...(jwt.audience ? { audience: jwt.audience } : {}),
  };
  return async (token) => {
    let payload: JWTPayload;
    const { decodeProtectedHeader, jwtVerify } = await jose;
    try {
      const alg = decodeProtectedHeader(token).alg ?? '';
      if (secret && HMAC_ALGS.includes(alg)) {
        ({ payload } = await jwtVerify(token, secret, { ...options, algorithms: HMAC_ALGS }));
      } else if (jwks && ASYMMETRIC_ALGS.includes(alg)) {
        ({ payload } = await jwtVerify(token, await jwks, { ...options, algorithms: ASYMMETRIC_ALGS }));
      } else {
        throw new TokenError(`the token algorithm ${JSON.stringify(alg.slice(0, 16))} is not accepted`);
      }
    } catch (err) {
      if (err instanceof TokenError) throw err;
      throw new TokenError(reason(err));
    }
    const owner = payload[jwt.ownerClaim];
    if (typeof owner !== 'string' || owner === '') throw new TokenError(`the token has no "${jwt.ownerClaim}" claim (the owner)`);
    return Object.freeze({ via: 'jwt', owner, scopes: scopesOf(payload[jwt.scopeClaim]) });
  };
}
