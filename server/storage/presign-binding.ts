import { errors } from '../errors.ts';
import type { PresignPutOptions } from './store.ts';

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/** What a presigned PUT is bound to, checked alike for every Store: `InvalidArgument` naming the field. */
export function checkPutBinding(options: PresignPutOptions): { size: number; sha256?: string } {
  const { size, sha256 } = options;
  if (!(Number.isSafeInteger(size) && size >= 0)) throw errors.invalidArgument('size must be the exact byte count of the body (an integer >= 0)');
  if (sha256 === undefined) return { size };
  if (typeof sha256 !== 'string' || !HEX_SHA256.test(sha256)) throw errors.invalidArgument('sha256 must be 64 hex digits');
  return { size, sha256: sha256.toLowerCase() };
}

/** S3's `x-amz-checksum-sha256` is the base64 of the digest, not its hex. */
export const sha256Base64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');
