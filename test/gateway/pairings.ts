/**
 * The (tus datastore, Store backend) pairings the gateway's protocol tests run on,
 * and the small HTTP and tus helpers those tests share. Every request goes over a
 * real socket to a gateway started by test/support/gateway.ts (`usePairingGateway` per describe block); the s3 pairings use the
 * real Ceph RGW that the vitest globalSetup started (test/support/services.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import type { OutgoingHttpHeaders } from 'node:http';
import { join, relative } from 'node:path';
import { Upload, type HttpRequest, type HttpResponse, type PreviousUpload, type UploadOptions, type UrlStorage } from 'tus-js-client';
import { readJournal } from '../../server/tus/journal.ts';
import { startGateway, type GatewayOptions, type InProcessGateway } from '../support/gateway.ts';
import { useStarted } from '../support/use.ts';

const ALL_PAIRINGS = ['file+localfs', 's3+s3', 'file+s3'] as const;
export type Pairing = (typeof ALL_PAIRINGS)[number];
/** Every pairing, or those named in TEST_PAIRINGS (`npm run test:quick`: file+localfs, which needs no service). */
export const PAIRINGS: readonly Pairing[] = process.env.TEST_PAIRINGS
  ? ALL_PAIRINGS.filter((p) => process.env.TEST_PAIRINGS!.split(',').includes(p))
  : ALL_PAIRINGS;

export const TUS_VERSION = '1.0.0';
/** The Content-Type of a PATCH body (and of a creation-with-upload POST's). */
export const OCTETS = 'application/offset+octet-stream';
export const MiB = 2 ** 20;

const buckets = new Map<Pairing, Promise<string>>();

/**
 * The env overrides that select `pairing`. The s3 pairings get a fresh bucket, made
 * once per pairing and per test file (each test file loads this module afresh).
 */
export async function pairingEnv(pairing: Pairing): Promise<Record<string, string>> {
  const [datastore, backend] = pairing.split('+') as ['file' | 's3', 'localfs' | 's3'];
  const env: Record<string, string> = { TUS_DATASTORE: datastore, STORAGE_BACKEND: backend };
  if (datastore === 'file' && backend === 'localfs') return env;
  const { createTestBucket, s3GatewayEnv } = await import('../support/services.ts');
  let bucket = buckets.get(pairing);
  if (!bucket) {
    bucket = createTestBucket(`gw-${pairing.replace('+', '-')}`);
    buckets.set(pairing, bucket);
  }
  return { ...env, ...s3GatewayEnv(await bucket) };
}

export type TestGateway = InProcessGateway & { pairing: Pairing };

/** The gateway in this process for `pairing`; `options.env` is merged over the pairing's env. */
export async function startPairingGateway(pairing: Pairing, options: Omit<GatewayOptions, 'child'> = {}): Promise<TestGateway> {
  const gw = await startGateway({ ...options, env: { ...(await pairingEnv(pairing)), ...options.env } });
  return Object.assign(gw, { pairing });
}

/**
 * A gateway for `pairing` for the calling describe block: started in its beforeAll, closed
 * (data directory removed) in its afterAll. The handle reads through to that gateway, so
 * use it inside tests and hooks only, never at collection time.
 */
export function usePairingGateway(pairing: Pairing, options: Omit<GatewayOptions, 'child'> = {}): TestGateway {
  return useStarted(`usePairingGateway(${pairing})`, () => startPairingGateway(pairing, options));
}

/** Whether the pairing keeps incomplete uploads in S3 (its part size is 8 MiB, and chunks must be ≥ 5 MiB). */
export const usesS3Datastore = (pairing: Pairing) => pairing.startsWith('s3+');

export { raw, type RawOptions, type RawResponse } from '../support/http.ts';
import { raw, type RawResponse } from '../support/http.ts';

/** The tus headers every request but OPTIONS needs. */
export const tusHeaders = (extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders => ({ 'Tus-Resumable': TUS_VERSION, ...extra });

/** `Upload-Metadata` from plain strings ("key base64(value)", a bare key for an empty value). */
export function encodeMetadata(meta: Record<string, string>): string {
  return Object.entries(meta)
    .map(([k, v]) => (v === '' ? k : `${k} ${Buffer.from(v, 'utf8').toString('base64')}`))
    .join(',');
}

/** POST /files: creates an upload and returns its absolute URL and id. */
export async function createUpload(
  base: string,
  options: { length?: number; metadata?: Record<string, string>; deferLength?: boolean; headers?: OutgoingHttpHeaders } = {},
): Promise<{ url: string; id: string; res: RawResponse }> {
  const headers = tusHeaders({ ...options.headers });
  if (options.deferLength) headers['Upload-Defer-Length'] = '1';
  else headers['Upload-Length'] = String(options.length ?? 0);
  if (options.metadata) headers['Upload-Metadata'] = encodeMetadata(options.metadata);
  const res = await raw(`${base}/files`, { method: 'POST', headers });
  if (res.status !== 201) throw new Error(`POST /files answered ${res.status}: ${res.text}`);
  const url = new URL(String(res.headers.location), base).toString();
  return { url, id: url.slice(url.lastIndexOf('/') + 1), res };
}

/** PATCH `data` at `offset`. */
export function patch(uploadUrl: string, offset: number, data: Buffer, headers: OutgoingHttpHeaders = {}): Promise<RawResponse> {
  return raw(uploadUrl, {
    method: 'PATCH',
    headers: tusHeaders({ 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset), ...headers }),
    body: data,
  });
}

export const head = (uploadUrl: string, headers: OutgoingHttpHeaders = {}) => raw(uploadUrl, { method: 'HEAD', headers: tusHeaders(headers) });

// ---------------------------------------------------------------------------------------------
// Data, objects, metrics

export const randomData = (size: number): Buffer => randomBytes(size);
export const sha256Hex = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** `/api/objects/{key}` with each segment percent-encoded (docs/api.md §4). */
export const objectPath = (key: string): string => `/api/objects/${key.split('/').map(encodeURIComponent).join('/')}`;

/** The key as the `Object-Key` header carries it. */
export const encodedKey = (key: string): string => key.split('/').map(encodeURIComponent).join('/');

export interface ObjectInfoJSON {
  key: string;
  size: number;
  contentType: string;
  etag: string;
  lastModified: string;
  metadata: Record<string, string>;
}

/** The ObjectInfo of exactly `key` from the list API, or undefined when absent. */
export async function objectInfo(base: string, key: string): Promise<ObjectInfoJSON | undefined> {
  const res = await raw(`${base}/api/objects?prefix=${encodeURIComponent(key)}&limit=10`);
  if (res.status !== 200) throw new Error(`list answered ${res.status}: ${res.text}`);
  return (res.json.objects as ObjectInfoJSON[]).find((o) => o.key === key);
}

/** The value of a counter/gauge (summed over its labels) from `/metrics`. */
export async function metricValue(base: string, name: string): Promise<number> {
  const res = await raw(`${base}/metrics`);
  let sum = 0;
  for (const line of res.text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

/** Every file under `dir` (relative paths, sorted); [] when it does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/**
 * What the gateway keeps of uploads in progress: every file under its tus directory
 * (data, hash states), every document of its journal (upload records, upload infos; the
 * journal's own file is not one: it grows and changes generations) and, for the s3
 * datastore, every object under the bucket's tus prefix.
 */
export async function tusArtifacts(gw: TestGateway): Promise<string[]> {
  const journalDir = join(gw.dataDir, 'tus', '.gateway', 'journal');
  const local = (await filesUnder(join(gw.dataDir, 'tus'))).filter((f) => !join(gw.dataDir, 'tus', f).startsWith(journalDir + '/')).map((f) => `file:${f}`);
  for (const [ns, docs] of await readJournal(journalDir)) for (const key of docs.keys()) local.push(`journal:${ns}/${key}`);
  local.sort();
  if (!usesS3Datastore(gw.pairing)) return local;
  const { makeS3Client } = await import('../support/services.ts');
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const client = makeS3Client();
  const keys: string[] = [];
  try {
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: gw.env.S3_BUCKET, Prefix: gw.config.storage.s3.tusPrefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) keys.push(`s3:${o.Key}`);
      token = page.NextContinuationToken;
    } while (token);
  } finally {
    client.destroy();
  }
  return [...local, ...keys.sort()];
}

/** A unique, harmless file name for a test's object. */
export const uniqueName = (label: string): string => `${label}-${randomBytes(4).toString('hex')}.bin`;

// ---------------------------------------------------------------------------------------------
// tus-js-client

export interface ClientUploadResult {
  /** The upload URL (absolute). */
  url: string;
  id: string;
  /** Headers of the last response (the one that completed the upload). */
  lastResponse: HttpResponse;
  /** "METHOD" of every request tus-js-client sent, in order. */
  requests: string[];
}

/** An in-memory tus-js-client URL storage, so that a second Upload can find the first by fingerprint. */
export class MemoryUrlStorage implements UrlStorage {
  private readonly entries = new Map<string, { fingerprint: string; upload: PreviousUpload }>();
  private next = 0;

  async findAllUploads(): Promise<PreviousUpload[]> {
    return [...this.entries.values()].map((e) => e.upload);
  }

  async findUploadsByFingerprint(fingerprint: string): Promise<PreviousUpload[]> {
    return [...this.entries.values()].filter((e) => e.fingerprint === fingerprint).map((e) => e.upload);
  }

  async removeUpload(urlStorageKey: string): Promise<void> {
    this.entries.delete(urlStorageKey);
  }

  async addUpload(fingerprint: string, upload: PreviousUpload): Promise<string> {
    const key = `tus::${fingerprint}::${this.next++}`;
    this.entries.set(key, { fingerprint, upload: { ...upload, urlStorageKey: key } });
    return key;
  }
}

/**
 * Uploads `data` with tus-js-client and resolves when it succeeds (rejects on error).
 * With `resumePrevious`, a previous upload found in `urlStorage` by fingerprint is resumed first.
 */
export function clientUpload(
  endpoint: string,
  data: Buffer,
  options: Partial<UploadOptions> & { resumePrevious?: boolean } = {},
): Promise<ClientUploadResult> {
  const { resumePrevious, ...opts } = options;
  const requests: string[] = [];
  return new Promise((resolve, reject) => {
    const upload: Upload = new Upload(data, {
      endpoint,
      retryDelays: null,
      ...opts,
      onBeforeRequest: (req: HttpRequest) => {
        requests.push(req.getMethod());
        return opts.onBeforeRequest?.(req);
      },
      onError: reject,
      onSuccess: ({ lastResponse }) => {
        const url = upload.url!;
        resolve({ url, id: url.slice(url.lastIndexOf('/') + 1), lastResponse, requests });
      },
    });
    if (!resumePrevious) return upload.start();
    upload.findPreviousUploads().then((previous) => {
      if (previous[0]) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    }, reject);
  });
}
