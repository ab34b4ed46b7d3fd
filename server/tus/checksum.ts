import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errors } from '../errors.ts';

/**
 * The tus checksum extension: "The Server MAY support [it] … the Client MAY include
 * the Upload-Checksum header in a PATCH request … the Server MUST respond with the
 * 460 Checksum Mismatch status … if the checksums mismatch … The Server MUST NOT
 * store the chunk." And creation-with-upload follows the PATCH rules.
 */
export const CHECKSUM_ALGORITHMS = ['sha1', 'sha256', 'md5'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export interface UploadChecksum {
  algorithm: ChecksumAlgorithm;
  /** The digest the body must have. */
  expected: Buffer;
}

/**
 * `Upload-Checksum: <algorithm> <base64 digest>`. Undefined when absent; InvalidArgument
 * (400) for an unsupported algorithm ("the Server MUST respond with the 400 Bad Request
 * status if the checksum algorithm is not supported") or a malformed value.
 */
export function parseUploadChecksum(header: string): UploadChecksum | undefined {
  if (header.trim() === '') return undefined;
  const parts = header.trim().split(/ +/);
  if (parts.length !== 2) throw errors.invalidArgument('Upload-Checksum must be "<algorithm> <base64 digest>"');
  const algorithm = parts[0]!.toLowerCase();
  if (!(CHECKSUM_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw errors.invalidArgument(`Upload-Checksum: unsupported algorithm "${parts[0]!.slice(0, 20)}" (supported: ${CHECKSUM_ALGORITHMS.join(', ')})`);
  }
  const alg = algorithm as ChecksumAlgorithm;
  const value = parts[1]!;
  if (!BASE64.test(value)) throw errors.invalidArgument(`Upload-Checksum: the ${alg} digest must be base64`);
  // A well-formed digest of the wrong length is no malformed header: it names a body
  // that cannot be, so it gets the mismatch (460) like any other wrong digest.
  return { algorithm: alg, expected: Buffer.from(value, 'base64') };
}

/** What the edge learnt of the request that the datastore's write() cannot see (it only gets the body). */
export interface TusRequestContext {
  method: string;
  checksum?: UploadChecksum;
}

/**
 * Carries the request's checksum from the edge, through @tus/server, into the datastore's
 * write() — per request, so that two requests for one upload can never see each other's.
 */
export const tusRequestContext = new AsyncLocalStorage<TusRequestContext>();

/** Where checksummed bodies wait for their verdict; emptied at start-up (nothing there was ever acknowledged). */
export async function prepareSpool(directory: string): Promise<string> {
  await rm(directory, { recursive: true, force: true });
  await mkdir(directory, { recursive: true });
  return directory;
}

/**
 * Receives a checksummed body to a file beside the datastore, hashing it as it streams
 * (memory stays bounded however large the PATCH), and hands back a reader of exactly
 * those bytes once they match. A mismatch — and a body cut mid-way, whose checksum
 * cannot match — throws ChecksumMismatch (460) with nothing given to the datastore: the
 * offset, the resumable sha256 and the stored bytes stay exactly as they were.
 *
 * Why to the side, not into the upload and then truncated: the s3 datastore cannot take
 * back a part once uploaded, and on disk a crash between the write and the verdict would
 * leave unverified bytes counted in the offset.
 */
export async function receiveVerified(
  body: Readable,
  checksum: UploadChecksum,
  spoolDir: string,
): Promise<{ size: number; open: () => Readable; discard: () => Promise<void> }> {
  const path = join(spoolDir, `${randomBytes(12).toString('hex')}.body`);
  const discard = () => rm(path, { force: true });
  const hash = createHash(checksum.algorithm);
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  try {
    await pipeline(body, tap, createWriteStream(path));
  } catch {
    await discard();
    throw errors.checksumMismatch('the body ended before its Upload-Checksum could be verified; nothing of it was stored');
  }
  const actual = hash.digest();
  if (!actual.equals(checksum.expected)) {
    await discard();
    throw errors.checksumMismatch(
      `Upload-Checksum ${checksum.algorithm} ${checksum.expected.toString('base64')} does not match the body (${size} bytes, ${actual.toString('base64')}); nothing of it was stored`,
    );
  }
  return { size, open: () => createReadStream(path), discard };
}
