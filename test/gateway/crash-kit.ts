/**
 * Helpers shared by the tests in which the gateway or its network breaks under an upload
 * (crash.test.ts, resilience.test.ts): the two pairings they run on, per-file cleanups,
 * a tus-js-client upload that
 * logs what it sent and was told, a PATCH whose body stops arriving, and a look at the
 * stored object straight in the backend. The plain HTTP and tus helpers come from
 * pairings.ts.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload, type HttpRequest, type HttpResponse } from 'tus-js-client';
import { afterAll, expect } from 'vitest';
import { sha256Hex, type Pairing } from './pairings.ts';

/** The pairings the crash and resilience tests run on. */
export const CRASH_PAIRINGS = ['file+localfs', 's3+s3'] as const satisfies readonly Pairing[];

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A list of cleanups for the calling test file, run in reverse order after all its tests
 * (a failing one does not stop the others). Call once, at the top level of the file.
 */
export function cleanupsAfterAll(): Array<() => Promise<unknown>> {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => undefined);
  });
  return cleanups;
}

export interface StoredObject {
  size: number;
  /** sha256 of the stored bytes, computed here. */
  sha256: string;
  metadata: Record<string, string>;
}

/** Reads the finished object straight from the backend (not through the gateway). */
export async function readStoredObject(env: Record<string, string>, dataDir: string, key: string): Promise<StoredObject> {
  if (env.STORAGE_BACKEND === 'localfs') {
    const path = join(dataDir, 'storage', key);
    const sidecar = JSON.parse(await readFile(`${path}.meta.json`, 'utf8')) as { size: number; metadata: Record<string, string> };
    const bytes = await readFile(path);
    expect(sidecar.size).toBe(bytes.length);
    return { size: bytes.length, sha256: sha256Hex(bytes), metadata: sidecar.metadata };
  }
  const client = new S3Client({
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.S3_ACCESS_KEY!, secretAccessKey: env.S3_SECRET_KEY! },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: env.S3_BUCKET, Key: key }));
    const got = await client.send(new GetObjectCommand({ Bucket: env.S3_BUCKET, Key: key }));
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of got.Body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    return { size, sha256: hash.digest('hex'), metadata: head.Metadata ?? {} };
  } finally {
    client.destroy();
  }
}

/** What a whole tus-js-client upload saw, request by request. */
export interface ClientLog {
  /** The upload URL. */
  url: string;
  /** The answer that completed the upload. */
  lastResponse: HttpResponse;
  /** Upload-Offset of every PATCH the client sent, in order. */
  patchOffsets: number[];
  /** Upload-Offset of every HEAD answer, in order (NaN for one without it). */
  headOffsets: number[];
  /** Upload-Offset of every HEAD/PATCH answer that carried one, in order. */
  serverOffsets: number[];
  /** For every PATCH sent: the highest offset the server had confirmed before it. */
  confirmedBeforePatch: number[];
}

/**
 * tus-js-client, start to finish: `done` resolves on success with what it saw (rejects on
 * error); `upload` is the client itself (its URL stays known after a failure).
 * `onPatchDone` gets the Upload-Offset of every PATCH answered 204.
 */
export function tusClientUpload(
  target: { endpoint: string } | { uploadUrl: string },
  data: Buffer,
  options: { chunkSize: number; retryDelays: number[] | null; metadata?: Record<string, string>; onPatchDone?: (offset: number) => void },
): { done: Promise<ClientLog>; upload: Upload } {
  const patchOffsets: number[] = [];
  const headOffsets: number[] = [];
  const serverOffsets: number[] = [];
  const confirmedBeforePatch: number[] = [];
  let confirmed = 0;
  let upload!: Upload;
  const done = new Promise<ClientLog>((resolve, reject) => {
    upload = new Upload(data, {
      ...target,
      chunkSize: options.chunkSize,
      metadata: options.metadata ?? {},
      retryDelays: options.retryDelays,
      onBeforeRequest(req: HttpRequest) {
        if (req.getMethod() === 'PATCH') {
          patchOffsets.push(Number(req.getHeader('Upload-Offset')));
          confirmedBeforePatch.push(confirmed);
        }
      },
      onAfterResponse(req: HttpRequest, res: HttpResponse) {
        const method = req.getMethod();
        const header = res.getHeader('Upload-Offset');
        const offset = Number(header);
        if (method === 'HEAD') headOffsets.push(offset);
        if ((method === 'HEAD' || method === 'PATCH') && header !== undefined && header !== null && header !== '') {
          serverOffsets.push(offset);
          confirmed = Math.max(confirmed, offset);
        }
        if (method === 'PATCH' && res.getStatus() === 204) options.onPatchDone?.(offset);
      },
      onSuccess: ({ lastResponse }) => resolve({ url: upload.url!, lastResponse, patchOffsets, headOffsets, serverOffsets, confirmedBeforePatch }),
      onError: reject,
    });
  });
  upload.start();
  return { done, upload };
}

/**
 * Opens a PATCH of `declared` bytes on a connection of its own, sends `send` of them, then
 * goes silent with the socket open (a half-dead connection).
 */
export async function silentPatch(uploadUrl: string, offset: number, declared: number, send: Buffer): Promise<Socket> {
  const url = new URL(uploadUrl);
  const socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  socket.write(
    `PATCH ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nTus-Resumable: 1.0.0\r\n` +
      `Content-Type: application/offset+octet-stream\r\nUpload-Offset: ${offset}\r\nContent-Length: ${declared}\r\n\r\n`,
  );
  await new Promise<void>((resolve) => socket.write(send, () => resolve()));
  return socket;
}
