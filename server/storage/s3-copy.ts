// Server-side copy beyond CopyObject's 5 GiB: UploadPartCopy, and the small helpers it needs.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { encodeKeyPath } from './keys.ts';

import { fromS3Error } from './s3-errors.ts';

const MAX_PARTS = 10_000;

/** S3 CopySource: `bucket/key`, each key segment percent-encoded (the `/` separators stay). */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeKeyPath(key)}`;
}

/**
 * Runs `fn` over `items`, `limit` at a time; after a failure starts no new item, waits for those running, rethrows the first error.
 * Not p-map: its stopOnError rejects at once while other items still run, and a multipart copy must not be
 * aborted while an UploadPartCopy is in flight (the part would land in an upload that is gone, or keep it alive).
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
  return results;
}

export interface MultipartCopyParams {
  bucket: string;
  from: string;
  to: string;
  /** The source's size in bytes (from a HEAD). */
  size: number;
  partSize: number;
  concurrency: number;
  contentType?: string;
  /** Already in S3 form (encodeMetadata, or a HEAD's raw Metadata). */
  metadata?: Record<string, string>;
  /** The source's ETag: a source replaced during the copy fails the copy instead of mixing two objects. */
  ifMatch?: string;
}

/**
 * Server-side copy of any size up to 5 TiB: CreateMultipartUpload, UploadPartCopy by ranges, Complete.
 * Aborts the multipart upload on failure, so no parts are left behind. Rejects with the SDK's error
 * (copyObjectMultipart translates it).
 */
export async function copyInParts(client: S3Client, p: MultipartCopyParams): Promise<void> {
  const partSize = Math.max(p.partSize, Math.ceil(p.size / MAX_PARTS));
  const ranges: Array<{ PartNumber: number; range: string }> = [];
  for (let start = 0; start < p.size; start += partSize) {
    ranges.push({ PartNumber: ranges.length + 1, range: `bytes=${start}-${Math.min(p.size, start + partSize) - 1}` });
  }
  const { UploadId } = await client.send(
    new CreateMultipartUploadCommand({ Bucket: p.bucket, Key: p.to, ContentType: p.contentType, Metadata: p.metadata }),
  );
  try {
    const parts = await mapLimit(ranges, p.concurrency, async ({ PartNumber, range }) => {
      const out = await client.send(
        new UploadPartCopyCommand({
          Bucket: p.bucket,
          Key: p.to,
          UploadId,
          PartNumber,
          CopySource: copySource(p.bucket, p.from),
          CopySourceRange: range,
          CopySourceIfMatch: p.ifMatch,
        }),
      );
      return { PartNumber, ETag: out.CopyPartResult?.ETag };
    });
    await client.send(
      new CompleteMultipartUploadCommand({ Bucket: p.bucket, Key: p.to, UploadId, MultipartUpload: { Parts: parts } }),
    );
  } catch (err) {
    // Best effort: the copy's own error is the one worth reporting.
    await client.send(new AbortMultipartUploadCommand({ Bucket: p.bucket, Key: p.to, UploadId })).catch(() => undefined);
    throw err;
  }
}

/**
 * Server-side copy of any size (up to 5 TiB) by UploadPartCopy, for callers that already know
 * the source's size (finalization). Leaves no parts behind on failure; rejects with a GatewayError.
 */
export async function copyObjectMultipart(client: S3Client, params: MultipartCopyParams): Promise<void> {
  try {
    await copyInParts(client, params);
  } catch (err) {
    throw fromS3Error(err, params.from);
  }
}
