/**
 * What tests import to reach the real services that test/support/global-setup.ts
 * started (a Ceph RGW as S3, and Redis).
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import type { S3TestSettings } from './global-setup.ts';

export type { S3TestSettings };

/** Endpoint, region and keys of the test S3. */
export function s3TestSettings(): S3TestSettings {
  return { ...inject('s3') };
}

/** The gateway's env for the test S3 (docs/api.md §1), with `S3_BUCKET` when a bucket is given. */
export function s3GatewayEnv(bucket?: string): Record<string, string> {
  const s = s3TestSettings();
  return {
    S3_ENDPOINT: s.endpoint,
    S3_REGION: s.region,
    S3_ACCESS_KEY: s.accessKey,
    S3_SECRET_KEY: s.secretKey,
    ...(bucket === undefined ? {} : { S3_BUCKET: bucket }),
  };
}

/**
 * `redis://127.0.0.1:PORT` of the test Redis (database 0). A test file that needs a database of its own takes a fixed one,
 * never a random pick: test files run at once, and two of them that drew the same number mixed
 * their keys (quotas.test.ts counted overwrite.test.ts's uploads for alice). Taken: 11
 * ops/nginx, 12 gateway/multi-instance, 13 auth/overwrite, 14 auth/quotas.
 */
export function redisUrl(): string {
  return inject('redisUrl');
}

/**
 * An S3Client for the test S3: path-style, and checksums only when required
 * (with the SDK's default, RGW refuses streamed UploadPart bodies).
 * `overrides` is merged last, e.g. `{ credentials: { ... } }` for a wrong key.
 */
export function makeS3Client(overrides: S3ClientConfig = {}): S3Client {
  const s = s3TestSettings();
  return new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKey, secretAccessKey: s.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...overrides,
  });
}

let shared: S3Client | undefined;

/**
 * Creates a new, empty bucket with a unique valid name that starts with
 * `prefix` (lower-cased; characters S3 does not allow become `-`), and returns
 * its name.
 */
export async function createTestBucket(prefix = 'test'): Promise<string> {
  const clean =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/-+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40)
      .replace(/-+$/, '') || 'test';
  // 40 + 1 + up to 9 + 1 + 8 <= 63 characters.
  const name = `${clean}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  shared ??= makeS3Client();
  await shared.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}
