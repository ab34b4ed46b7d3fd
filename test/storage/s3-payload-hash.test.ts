/**
 * storage/s3-payload-hash.ts against the real Ceph RGW of the test set-up: an in-memory body of
 * 256 KiB or more reaches the signer with its sha256 already in `x-amz-content-sha256` (taken on
 * a pool thread), a smaller one without it (the SDK hashes it), and RGW, which checks the
 * payload hash of every signed request, stores both.
 */
import { createHash, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../server/storage/s3-client.ts';
import { createTestBucket, s3TestSettings } from '../support/services.ts';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('SigV4 payload hash on a pool thread', () => {
  let bucket: string;
  beforeAll(async () => {
    bucket = await createTestBucket('payload-hash');
  });

  it('hands the signer the sha256 of a large in-memory body, leaves a small one to the SDK, and S3 accepts both', async () => {
    const client = createS3Client({ ...s3TestSettings(), bucket, publicEndpoint: '', forcePathStyle: true, checksums: 'when_required', tusPrefix: '.tus/' });
    // What the request carries once the build step is done: before the retries and the signer (finalizeRequest).
    const seen: Array<string | undefined> = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        seen.push((args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256']);
        return next(args);
      },
      { step: 'build', priority: 'low', name: 'seeHeaders' },
    );
    const large = randomBytes(3 * 2 ** 20 + 5);
    const small = randomBytes(1000);
    await client.putObject({ Bucket: bucket, Key: 'large.bin', Body: large });
    await client.putObject({ Bucket: bucket, Key: 'small.bin', Body: small });
    expect(seen).toEqual([sha256(large), undefined]);
    for (const [key, bytes] of [['large.bin', large], ['small.bin', small]] as const) {
      const out = await client.getObject({ Bucket: bucket, Key: key });
      expect(sha256(await out.Body!.transformToByteArray())).toBe(sha256(bytes));
    }
    // A wrong hash in the header is refused by S3: the header is what the request is checked against.
    client.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = sha256(small);
        return next(args);
      },
      { step: 'build', priority: 'low', name: 'wrongHash' },
    );
    await expect(client.putObject({ Bucket: bucket, Key: 'wrong.bin', Body: large })).rejects.toMatchObject({ name: expect.stringMatching(/SHA256|Digest|BadDigest/i) });
  });
});
