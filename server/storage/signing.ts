import { createHmac, timingSafeEqual } from 'node:crypto';
import { errors } from '../errors.ts';
import { encodeKeyPath } from './keys.ts';

// localfs presigned URLs: `{publicUrl}/storage/{key}?expires={unix}[&size={n}[&sha256={hex}]]&signature={hex}`,
// an HMAC-SHA256 with `signing.secret` over the method, the key, the expiry and, for a PUT,
// the body's size and sha256 (empty when not bound). The key signed is the decoded key (not
// its URL form), so any equivalent percent-encoding of the same key verifies; the method is
// signed so a GET URL can never be replayed as a PUT; size and sha256 are signed so a PUT URL
// is a capability for one body, not for any body up to tus.maxSize.

export type SignedMethod = 'GET' | 'PUT';

export interface SignStorageUrlInput {
  /** The gateway's public base URL, e.g. `http://localhost:3001` (a trailing `/` is ignored). */
  publicUrl: string;
  secret: string;
  method: SignedMethod;
  key: string;
  expiresAt: Date;
  /** PUT: the exact body length. */
  size?: number;
  /** PUT: the body's hex sha256 (lower-cased when signed). */
  sha256?: string;
  /** PUT: the URL may replace an existing object (storage.overwrite deny, docs/api.md §7). */
  overwrite?: boolean;
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
  /** The raw `size` and `sha256` query parameters (absent on a GET URL). */
  size?: string | undefined | null;
  sha256?: string | undefined | null;
  /** The raw `overwrite` query parameter (`1` when the URL may replace an object). */
  overwrite?: string | undefined | null;
  now: Date;
}

/** What a valid PUT signature binds the body to. */
export interface SignedBody {
  size?: number;
  sha256?: string;
  overwrite?: boolean;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/i;
// At most 15 digits: far beyond any real expiry or size, and still an exact integer as a JS number.
const DIGITS = /^[0-9]{1,15}$/;

function hmac(secret: string, method: string, key: string, expires: string, size: string, sha256: string, overwrite = false): Buffer {
  // `overwrite` is signed only when set, so URLs without it keep the signature they always had.
  return createHmac('sha256', secret).update(`${method}\n${key}\n${expires}\n${size}\n${sha256}${overwrite ? '\noverwrite' : ''}`, 'utf8').digest();
}

/** Expiry in whole unix seconds (rounded down: a URL never lives longer than asked). */
export function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** The presigned URL for `method` on `key`, valid until `expiresAt`. Pure. */
export function signStorageUrl({ publicUrl, secret, method, key, expiresAt, size, sha256, overwrite }: SignStorageUrlInput): string {
  const expires = String(unixSeconds(expiresAt));
  const sizeText = size === undefined ? '' : String(size);
  const digest = sha256?.toLowerCase() ?? '';
  const signature = hmac(secret, method, key, expires, sizeText, digest, overwrite).toString('hex');
  const base = publicUrl.replace(/\/+$/, '');
  const bound = `${sizeText ? `&size=${sizeText}` : ''}${digest ? `&sha256=${digest}` : ''}${overwrite ? '&overwrite=1' : ''}`;
  return `${base}/storage/${encodeKeyPath(key)}?expires=${expires}${bound}&signature=${signature}`;
}

/**
 * Checks a presigned request and returns what it binds the body to. Throws
 * `SignatureDoesNotMatch` for a missing, malformed or wrong signature (which includes a
 * wrong method, key, expires, size or sha256), then `ExpiredToken` once `now` is past
 * `expires`. The signature is checked first so a forged URL learns nothing, not even
 * whether its expiry has passed. Pure.
 */
export function verifyStorageSignature({ secret, method, key, expires, signature, size, sha256, overwrite, now }: VerifyStorageSignatureInput): SignedBody {
  if (typeof expires !== 'string' || !DIGITS.test(expires)) throw errors.signatureDoesNotMatch();
  if (typeof signature !== 'string' || !HEX_SHA256.test(signature)) throw errors.signatureDoesNotMatch();
  if (size != null && !DIGITS.test(size)) throw errors.signatureDoesNotMatch();
  if (sha256 != null && !HEX_SHA256.test(sha256)) throw errors.signatureDoesNotMatch();
  if (overwrite != null && overwrite !== '1') throw errors.signatureDoesNotMatch();
  const expected = hmac(secret, method, key, expires, size ?? '', sha256 ?? '', overwrite === '1');
  const given = Buffer.from(signature, 'hex');
  // Both are 32 bytes here (the regex guarantees it), as timingSafeEqual requires.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw errors.signatureDoesNotMatch();
  // Valid through the second named by `expires`, expired after it.
  if (unixSeconds(now) > Number(expires)) throw errors.expiredToken();
  return { ...(size != null ? { size: Number(size) } : {}), ...(sha256 != null ? { sha256: sha256.toLowerCase() } : {}), ...(overwrite === '1' ? { overwrite: true } : {}) };
}
