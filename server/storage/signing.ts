import { createHmac, timingSafeEqual } from 'node:crypto';
import { errors } from '../errors.ts';
import { encodeKeyPath } from './keys.ts';

// API.md §4, localfs backend: `{publicUrl}/storage/{key}?expires={unix}&signature={hex}`,
// "an HMAC-SHA256 over method, key and expiry with `signing.secret`".
// The key signed is the decoded key (not its URL form), so any equivalent
// percent-encoding of the same key verifies, and the method is signed so a GET
// URL can never be replayed as a PUT.

export type SignedMethod = 'GET' | 'PUT';

export interface SignStorageUrlInput {
  /** The gateway's public base URL, e.g. `http://localhost:3001` (a trailing `/` is ignored). */
  publicUrl: string;
  secret: string;
  method: SignedMethod;
  key: string;
  expiresAt: Date;
}

export interface VerifyStorageSignatureInput {
  secret: string;
  /** The request's method (a HEAD should be checked as `GET` by the caller if it wants to allow it). */
  method: string;
  /** The decoded object key from the request path. */
  key: string;
  /** The raw `expires` query parameter (unix seconds). */
  expires: string | undefined | null;
  /** The raw `signature` query parameter (hex). */
  signature: string | undefined | null;
  now: Date;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/i;
// At most 15 digits: far beyond any real expiry, and still an exact integer as a JS number.
const UNIX_SECONDS = /^[0-9]{1,15}$/;

function hmac(secret: string, method: string, key: string, expires: string): Buffer {
  return createHmac('sha256', secret).update(`${method}\n${key}\n${expires}`, 'utf8').digest();
}

/** Expiry in whole unix seconds (rounded down: a URL never lives longer than asked). */
export function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** The presigned URL for `method` on `key`, valid until `expiresAt`. Pure. */
export function signStorageUrl({ publicUrl, secret, method, key, expiresAt }: SignStorageUrlInput): string {
  const expires = String(unixSeconds(expiresAt));
  const signature = hmac(secret, method, key, expires).toString('hex');
  const base = publicUrl.replace(/\/+$/, '');
  return `${base}/storage/${encodeKeyPath(key)}?expires=${expires}&signature=${signature}`;
}

/**
 * Checks a presigned request. Throws `SignatureDoesNotMatch` for a missing, malformed
 * or wrong signature (which includes a wrong method, key or expires), then
 * `ExpiredToken` once `now` is past `expires`. The signature is checked first so
 * a forged URL learns nothing, not even whether its expiry has passed. Pure.
 */
export function verifyStorageSignature({ secret, method, key, expires, signature, now }: VerifyStorageSignatureInput): void {
  if (typeof expires !== 'string' || !UNIX_SECONDS.test(expires)) throw errors.signatureDoesNotMatch();
  if (typeof signature !== 'string' || !HEX_SHA256.test(signature)) throw errors.signatureDoesNotMatch();
  const expected = hmac(secret, method, key, expires);
  const given = Buffer.from(signature, 'hex');
  // Both are 32 bytes here (the regex guarantees it), as timingSafeEqual requires.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw errors.signatureDoesNotMatch();
  // Valid through the second named by `expires`, expired after it.
  if (unixSeconds(now) > Number(expires)) throw errors.expiredToken();
}
