import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import pMap from 'p-map';
import { Upload, type DetailedError, type HttpResponse, type PreviousUpload } from 'tus-js-client';
import { configDir } from '../config-dir.ts';
import { emit, type Context } from '../context.ts';
import { CliError, EXIT, integrityError, toCliError, usageError } from '../errors.ts';
import { sha256File } from '../hash-file.ts';
import { authHeaders, requestJson, retryDelays } from '../http.ts';
import { statObject } from '../objects-api.ts';
import { Progress, type ProgressLine } from '../progress.ts';
import { ChecksumHttpStack, ChunkFileReader, type LocalFile } from '../tus-io.ts';
import { FileUrlStorage } from '../url-storage.ts';
import { reportFailures } from './failures.ts';

export interface UploadFlags {
  owner?: string;
  name?: string;
  parallel: number;
}

/** `GET /api/config`: the tus endpoint and the chunk size the gateway wants (its S3 part size). */
interface GatewayConfig {
  tusEndpoint: string;
  partSize: number;
  maxSize: number;
}

export interface UploadResult {
  file: string;
  key: string;
  size: number;
  sha256: string;
  uploadUrl: string;
  /** The server's offset when this run took the upload up again (0 for a new upload). */
  resumedFrom: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** `ugw upload FILE…`: each file through tus, resumable across lost networks and killed processes. */
export async function uploadCommand(ctx: Context, files: string[], flags: UploadFlags): Promise<void> {
  if (flags.name !== undefined && files.length > 1) throw usageError('--name names one file; it cannot be used with several');
  const config = await requestJson<GatewayConfig>(ctx, 'GET', '/api/config');
  const endpoint = new URL(config.tusEndpoint, `${ctx.server}/`).href;
  const storage = new FileUrlStorage(join(configDir(), 'uploads'));
  const progress = new Progress(ctx);
  const failures: CliError[] = [];
  // Under live bars the result lines wait for the bars to finish, so the two never interleave.
  const held: UploadResult[] = [];
  const print = (r: UploadResult) => emit(ctx, r, `${r.key} sha256:${r.sha256}`);
  try {
    await pMap(
      files,
      async (file) => {
        try {
          const result = await uploadOne(ctx, file, flags, { endpoint, chunkSize: config.partSize, storage, line: progress.line(basename(file)) });
          if (ctx.interactive) held.push(result);
          else print(result);
        } catch (err) {
          const e = toCliError(err);
          failures.push(new CliError(`${file}: ${e.message}`, e.exitCode, e.code, e.status));
        }
      },
      { concurrency: flags.parallel },
    );
  } finally {
    progress.stop();
    held.forEach(print);
  }
  reportFailures(ctx, failures);
}

interface UploadDeps {
  endpoint: string;
  chunkSize: number;
  storage: FileUrlStorage;
  line: ProgressLine;
}

async function uploadOne(ctx: Context, file: string, flags: UploadFlags, deps: UploadDeps): Promise<UploadResult> {
  const path = resolve(file);
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new CliError(err.code === 'ENOENT' ? 'no such file' : err.message, EXIT.failed, err.code ?? 'Failed');
  });
  if (!info.isFile()) throw new CliError('not a regular file', EXIT.failed, 'NotAFile');
  const filename = flags.name ?? basename(path);
  // Same server, same file, same size and modification time, same key: the same upload, to be resumed.
  const fingerprint = ['ugw', ctx.server, path, info.size, info.mtimeMs, flags.owner ?? '', filename].join('::');
  const previous: PreviousUpload | undefined = (await deps.storage.findUploadsByFingerprint(fingerprint))[0];

  // The whole file's digest travels as metadata, so the gateway can refuse a finished upload
  // whose bytes differ. A resumed upload reuses the digest it was started with.
  let sha256 = previous?.metadata.sha256;
  if (!sha256 || !SHA256_HEX.test(sha256)) {
    deps.line.phase('hashing', info.size);
    let done = 0;
    sha256 = await sha256File(path, (n) => deps.line.update((done += n)));
  }

  const metadata: Record<string, string> = { filename, sha256 };
  if (flags.owner !== undefined) metadata.owner = flags.owner;
  const source: LocalFile = { path, size: info.size };
  let resumedFrom = 0;

  const last = await new Promise<{ response: HttpResponse; url: string }>((resolvePromise, reject) => {
    const upload: Upload = new Upload(source as unknown as Buffer, {
      endpoint: deps.endpoint,
      chunkSize: deps.chunkSize,
      uploadSize: info.size,
      metadata,
      headers: authHeaders(ctx),
      retryDelays: retryDelays(ctx.retrySeconds),
      fingerprint: async () => fingerprint,
      urlStorage: deps.storage,
      fileReader: new ChunkFileReader(),
      httpStack: new ChecksumHttpStack(),
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onShouldRetry: (err, attempt) => shouldRetry(err, attempt),
      onAfterResponse: (req, res) => {
        // tus: "The Server MUST always include the Upload-Offset header in the response for a HEAD request".
        if (req.getMethod() === 'HEAD' && res.getStatus() === 200) resumedFrom = Number(res.getHeader('Upload-Offset') ?? 0);
      },
      onProgress: (sent) => deps.line.update(sent),
      onSuccess: ({ lastResponse }) => resolvePromise({ response: lastResponse, url: upload.url ?? '' }),
      onError: reject,
    });
    deps.line.phase('uploading', info.size, 0);
    if (previous) upload.resumeFromPreviousUpload(previous);
    upload.start();
  }).catch((err: unknown) => {
    throw tusError(err);
  });
  deps.line.update(info.size);
  deps.line.stop();
  // tus-js-client's removeFingerprintOnSuccess starts the removal without waiting for it: a CLI
  // that exits right after could leave the finished upload's resume state behind. Wait for it here.
  for (const u of await deps.storage.findUploadsByFingerprint(fingerprint)) await deps.storage.removeUpload(u.urlStorageKey);

  const key = await objectKeyOf(ctx, last.response, last.url);
  // The gateway's own digest of what it stored must be the one computed here.
  const object = await statObject(ctx, key);
  const stored = object.metadata.sha256;
  if (stored && stored !== sha256) throw integrityError(`the gateway stored ${key} with sha256 ${stored}, the file has ${sha256}`);
  return { file, key, size: info.size, sha256, uploadUrl: last.url, resumedFrom };
}

/** Network errors, 5xx, 409/423 (as tus-js-client does), and a 460 checksum mismatch once more (bytes hurt in transit). */
function shouldRetry(err: DetailedError, attempt: number): boolean {
  const status = err.originalResponse?.getStatus();
  if (!status) return true;
  if (status === 460) return attempt < 2;
  return status >= 500 || status === 409 || status === 423;
}

/** `Object-Key` of the final answer (each segment percent-encoded), else the upload's status. */
async function objectKeyOf(ctx: Context, response: HttpResponse, url: string): Promise<string> {
  const header = response.getHeader('Object-Key');
  if (header) return header.split('/').map(decodeURIComponent).join('/');
  const id = url.slice(url.lastIndexOf('/') + 1);
  const status = await requestJson<{ status: string; key?: string }>(ctx, 'GET', `/api/uploads/${encodeURIComponent(id)}`);
  if (status.status !== 'done' || !status.key) throw new CliError(`upload ${id} is ${status.status}, not done`, EXIT.failed, 'UploadNotDone');
  return status.key;
}

/** A tus-js-client error as a CliError with the gateway's error code; 460 is an integrity failure (exit 3). */
function tusError(err: unknown): CliError {
  const detailed = err as Partial<DetailedError>;
  const res = detailed.originalResponse;
  if (!res) return toCliError(detailed.causingError ?? err);
  const status = res.getStatus();
  let code = `HTTP${status}`;
  let message = res.getBody() || `${status}`;
  try {
    const body = JSON.parse(res.getBody()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // @tus/server answers some errors in plain text
  }
  return new CliError(message.trim(), status === 460 ? EXIT.integrity : EXIT.failed, status === 460 && code === `HTTP460` ? 'ChecksumMismatch' : code, status);
}
