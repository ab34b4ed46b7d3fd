/**
 * The test bed itself: the S3 and Redis that global-setup.ts started answer,
 * and the S3 really checks signatures (so tests that rely on 403s mean something).
 */
import { connect } from 'node:net';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, makeS3Client, redisUrl, s3TestSettings } from './services.ts';

describe('test S3', () => {
  const client = makeS3Client();
  let bucket: string;
  beforeAll(async () => {
    bucket = await createTestBucket('harness');
  });
  afterAll(() => client.destroy());

  it('makes valid, distinct bucket names from any prefix', async () => {
    const a = await createTestBucket('Some_Prefix.With Odd/Chars');
    const b = await createTestBucket('Some_Prefix.With Odd/Chars');
    expect(a).not.toBe(b);
    for (const name of [a, b]) {
      expect(name).toMatch(/^some-prefix-with-odd-chars-[a-z0-9]+-[0-9a-f]{8}$/);
      expect(name.length).toBeLessThanOrEqual(63);
    }
  });

  it('stores, returns and deletes an object', async () => {
    const body = Buffer.from(`hello from the harness ${Date.now()}\n`);
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'dir/hello.txt', Body: body, ContentType: 'text/plain', Metadata: { owner: 'harness' } }),
    );
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/hello.txt' }));
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
    expect(got.ContentType).toBe('text/plain');
    expect(got.Metadata).toEqual({ owner: 'harness' });

    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'dir/hello.txt' }));
    await expect(client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dir/hello.txt' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
  });

  it('checks SigV4: a presigned URL works, a tampered one gets 403', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'signed.bin', Body: Buffer.from('secret bytes') }));
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: 'signed.bin' }), { expiresIn: 60 });

    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('secret bytes');

    const tampered = new URL(url);
    const sig = tampered.searchParams.get('X-Amz-Signature')!;
    tampered.searchParams.set('X-Amz-Signature', (sig[0] === '0' ? '1' : '0') + sig.slice(1));
    const bad = await fetch(tampered);
    expect(bad.status).toBe(403);
    await bad.arrayBuffer();

    const anonymous = await fetch(`${s3TestSettings().endpoint}/${bucket}/signed.bin`);
    expect(anonymous.status).toBe(403);
    await anonymous.arrayBuffer();
  });

  it('refuses a wrong secret key', async () => {
    const wrong = makeS3Client({
      credentials: { accessKeyId: s3TestSettings().accessKey, secretAccessKey: 'not-the-secret' },
    });
    try {
      await expect(wrong.send(new HeadObjectCommand({ Bucket: bucket, Key: 'signed.bin' }))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 403 },
      });
    } finally {
      wrong.destroy();
    }
  });
});

describe('test Redis', () => {
  it('answers PING over a raw socket', async () => {
    const { hostname, port } = new URL(redisUrl());
    const reply = await new Promise<string>((ok, fail) => {
      const socket = connect(Number(port), hostname, () => socket.write('PING\r\n'));
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        data += chunk;
        if (data.includes('\r\n')) {
          socket.end();
          ok(data);
        }
      });
      socket.on('error', fail);
    });
    expect(reply).toBe('+PONG\r\n');
  });

  it('works with ioredis', async () => {
    const redis = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      await redis.set('harness:key', 'value', 'EX', 60);
      expect(await redis.get('harness:key')).toBe('value');
    } finally {
      redis.disconnect();
    }
  });
});
