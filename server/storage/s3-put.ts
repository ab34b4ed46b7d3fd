import { createHash } from 'node:crypto';
import { Transform, pipeline, type Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { errors, type GatewayError } from '../errors.ts';
import { fromS3Error } from './s3-errors.ts';

export interface StreamedPut {
  client: S3Client;
  bucket: string;
  key: string;
  contentType?: string;
  /** Already in S3 form (encodeMetadata). */
  metadata: Record<string, string>;
  /** The body's length, when declared: a body of any other length stores nothing. */
  size?: number;
  /** The sha256 the body must have (hex): another one stores nothing. */
  sha256?: string;
  /** Compute the sha256 even when none is asked for. */
  hash: boolean;
  partSize: number;
  queueSize: number;
}

/**
 * Streams `body` to `key` with lib-storage's Upload (one PutObject below one part, else a
 * multipart upload with `queueSize` parts in flight). Resolves with the body's sha256 (hex)
 * when asked for; rejects with a GatewayError, having stored nothing.
 */
export async function putStreamed(body: Readable, p: StreamedPut): Promise<string | undefined> {
  const expected = p.size;
  // Counting on the way through: failing the stream before its end makes Upload
  // abort the multipart upload (or never send the PutObject), so a short or long
  // body leaves nothing behind and any previous object at `key` stays.
  let received = 0;
  const mismatch = (): GatewayError => errors.invalidArgument(`body length differs from the declared size ${expected}`);
  // The digest travels with the count: a body whose sha256 is not the one asked for fails in
  // flush, before the last part, so it never becomes the object either.
  const hash = p.sha256 || p.hash ? createHash('sha256') : undefined;
  const want = p.sha256?.toLowerCase();
  let computed: string | undefined;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      hash?.update(chunk);
      done(expected !== undefined && received > expected ? mismatch() : null, chunk);
    },
    flush(done) {
      if (expected !== undefined && received !== expected) return done(mismatch());
      computed = hash?.digest('hex');
      if (want !== undefined && computed !== want) return done(errors.badDigest(want, computed!));
      done();
    },
  });
  pipeline(body, counted, () => undefined); // errors reach Upload through `counted`
  const upload = new Upload({
    client: p.client,
    params: { Bucket: p.bucket, Key: p.key, Body: counted, ContentType: p.contentType, Metadata: p.metadata },
    partSize: p.partSize,
    queueSize: p.queueSize,
    leavePartsOnError: false,
  });
  try {
    await upload.done();
  } catch (err) {
    counted.destroy(); // releases `body` when S3 failed first
    throw fromS3Error(err, p.key);
  }
  return computed;
}
