import Uppy, { type Meta, type UppyFile } from '@uppy/core';
import Tus, { type TusBody } from '@uppy/tus';
import { createCredentials, type Credentials } from './credentials.ts';
import { chunkChecksum, fileSha256 } from './integrity.ts';
import { decodeKey, encodeKey } from './keys.ts';
import { describeFailure, isDeclaredDigestMismatch, serverCode } from './messages.ts';
import { resolveOptions, type ResolvedOptions, type UploadFailure, type UploaderOptions, type UploadResult } from './options.ts';
import { chunkSizeFor, fetchServerInfo, type ServerInfo } from './server-info.ts';

/** tus `Upload-Metadata` the gateway reads (docs/api.md §2); the server keeps them all on the object. */
export type UploadMeta = Meta & { filename: string; filetype: string; owner?: string; sha256?: string };
export type WidgetUppy = Uppy<UploadMeta, TusBody>;

export type UploaderEvent =
  | { type: 'ready'; server: ServerInfo }
  | { type: 'success'; result: UploadResult }
  | { type: 'error'; failure: UploadFailure }
  | { type: 'complete'; results: UploadResult[] };

/** Uppy + tus wired to the gateway, without any UI (bundler users add their own, `mount` adds the Dashboard). */
export interface Uploader {
  readonly uppy: WidgetUppy;
  readonly options: ResolvedOptions;
  /** The `token` / `getToken()` credential every request of this uploader carries. */
  readonly credentials: Credentials;
  /** Resolves once the server's limits are applied; a failed fetch is tried again on the next call. */
  ready(): Promise<ServerInfo>;
  subscribe(listener: (event: UploaderEvent) => void): () => void;
  destroy(): void;
}

/** For bundler users: `createUploader({ apiBase })`. Throws UploadWidgetOptionsError on a bad option. */
export function createUploader(options: UploaderOptions): Uploader {
  return createUploaderFrom(resolveOptions(options));
}

export function createUploaderFrom(opts: ResolvedOptions): Uploader {
  const listeners = new Set<(event: UploaderEvent) => void>();
  const emit = (event: UploaderEvent) => listeners.forEach((fn) => fn(event));
  const results = new Map<string, UploadResult>();
  const pending = new Set<Promise<void>>();
  let server: ServerInfo | null = null;
  const credentials = createCredentials(opts.token, opts.getToken);

  const uppy: WidgetUppy = new Uppy<UploadMeta, TusBody>({
    id: opts.id,
    autoProceed: opts.autoProceed,
    restrictions: { allowedFileTypes: opts.allowedFileTypes ? [...opts.allowedFileTypes] : null, maxFileSize: opts.maxFileSize },
    meta: (opts.owner ? { owner: opts.owner } : {}) as UploadMeta,
    // The gateway names the object after `filename` and types it by `filetype`.
    onBeforeFileAdded: (file) => ({ ...file, meta: { ...file.meta, filename: file.name ?? file.id, filetype: file.type || 'application/octet-stream' } }),
  });
  uppy.use(Tus, {
    // Replaced by the server's endpoint in ready(); no upload starts before that (the pre-processor waits).
    endpoint: opts.endpoint ?? `${opts.apiBase}/files/`,
    retryDelays: [...opts.retryDelays],
    // A finished upload forgets its fingerprint, so adding the same file later uploads it
    // again; an upload whose last response was lost keeps it and learns from HEAD that it is done.
    removeFingerprintOnSuccess: true,
    // Only what the gateway reads: Uppy's own `name`, `type`, `relativePath: null` would land on the object.
    // No `owner` field without an owner: @uppy/tus would send the string "undefined".
    allowedMetaFields: ['filename', 'filetype', ...(opts.owner ? ['owner'] : []), ...(opts.verify ? ['sha256'] : [])],
    limit: 2,
    // tus checksum extension: every PATCH says what its bytes hash to, so a chunk damaged
    // on the way is refused (460) and sent again instead of stored.
    async onBeforeRequest(req, file) {
      for (const [name, value] of Object.entries(await credentials.headers())) req.setHeader(name, value);
      if (req.getMethod() !== 'PATCH' || !(file.data instanceof Blob)) return;
      const offset = Number(req.getHeader('Upload-Offset') ?? 0);
      const chunkSize = (uppy.getPlugin('Tus')?.opts as { chunkSize?: number } | undefined)?.chunkSize ?? Infinity;
      req.setHeader('Upload-Checksum', await chunkChecksum(file.data, offset, chunkSize));
    },
    onShouldRetry(err, retryAttempt, _options, next) {
      const res = (err as { originalResponse?: { getStatus(): number; getBody(): string } | null }).originalResponse;
      // A damaged chunk is worth sending again (a few times); a whole file that is not
      // what was declared stays wrong however often it is sent.
      if (res?.getStatus() === 460) return !isDeclaredDigestMismatch(res.getBody()) && retryAttempt < 3;
      // docs/api.md §7: "getToken() … called again after a 401" — once per failure, then the 401 stands.
      if (res?.getStatus() === 401) return retryAttempt < 1 && credentials.refresh();
      // The key exists or is reserved (ObjectExists), or the disk is full: sending again cannot help.
      // (tus-js-client retries every 409 by default: an offset conflict is worth a HEAD and a retry.)
      if (res?.getStatus() === 409 && serverCode(res.getBody()) === 'ObjectExists') return false;
      if (res?.getStatus() === 507) return false;
      return next(err);
    },
  });
  if (opts.verify) uppy.addPreProcessor((fileIDs) => declareDigests(uppy, fileIDs));

  let loading: Promise<ServerInfo> | null = null;
  const ready = (): Promise<ServerInfo> => {
    loading ??= fetchServerInfo(opts.apiBase).then(
      (info) => {
        const maxFileSize = Math.min(opts.maxFileSize ?? Infinity, info.maxSize);
        const chunkSize = chunkSizeFor(info, opts.chunkSize);
        uppy.setOptions({ restrictions: { ...uppy.opts.restrictions, maxFileSize } });
        uppy.getPlugin('Tus')?.setOptions({ endpoint: opts.endpoint ?? info.tusEndpoint, chunkSize });
        server = info;
        emit({ type: 'ready', server: info });
        return info;
      },
      (err: unknown) => {
        loading = null; // try again on the next upload
        throw err;
      },
    );
    return loading;
  };
  uppy.addPreProcessor(async () => {
    await ready();
  });

  uppy.on('upload-success', (file, response) => {
    if (!file) return;
    const xhr = response.body?.xhr;
    const uploadUrl = response.uploadURL ?? '';
    const job = describeSuccess(opts, credentials, file, uploadUrl, xhr?.getResponseHeader('Object-Key') ?? null).then((result) => {
      results.set(file.id, result);
      emit({ type: 'success', result });
    });
    pending.add(job);
    void job.finally(() => pending.delete(job));
  });

  uppy.on('upload-error', async (file, error, response) => {
    if (!file) return;
    const xhr = (response?.body as TusBody | undefined)?.xhr;
    let body: string | null = null;
    try {
      body = xhr?.responseText ?? null;
    } catch {
      // responseText throws for non-text response types; the status alone will do
    }
    const status = response?.status ?? 0;
    if (status === 413) {
      // The limit may have shrunk since the page loaded: re-read it, so the message (and the restrictions) tell the truth.
      loading = null;
      await ready().catch(() => undefined);
    }
    const message = describeFailure(file.name ?? file.id, { status, body }, { maxSize: server?.maxSize });
    uppy.log(error);
    uppy.setFileState(file.id, { error: message });
    const failure: UploadFailure = { fileName: file.name ?? file.id, status, message };
    opts.onError?.(failure);
    emit({ type: 'error', failure });
  });

  uppy.on('file-removed', (file) => results.delete(file.id));

  uppy.on('complete', async (result) => {
    await Promise.all([...pending]);
    const done = (result.successful ?? []).flatMap((f) => results.get(f.id) ?? []);
    if (done.length === 0) return;
    opts.onComplete?.(done);
    emit({ type: 'complete', results: done });
  });

  void ready().catch((err: unknown) => uppy.log(err, 'warning'));

  return {
    uppy,
    options: opts,
    credentials,
    ready,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    destroy() {
      listeners.clear();
      uppy.destroy();
    },
  };
}

/** `verify: true`: each file's sha256, hashed before its upload starts ("verifying"), becomes its `sha256` metadata. */
async function declareDigests(uppy: WidgetUppy, fileIDs: string[]): Promise<void> {
  for (const id of fileIDs) {
    const file = uppy.getFile(id);
    if (!file || file.meta.sha256 || !(file.data instanceof Blob)) continue;
    const size = file.data.size || 1;
    uppy.emit('preprocess-progress', file, { mode: 'determinate', message: 'Verifying…', value: 0 });
    const sha256 = await fileSha256(file.data, (hashed) => {
      uppy.emit('preprocess-progress', uppy.getFile(id), { mode: 'determinate', message: 'Verifying…', value: hashed / size });
    });
    uppy.setFileMeta(id, { sha256 } as Partial<UploadMeta> as UploadMeta);
    uppy.emit('preprocess-complete', uppy.getFile(id));
  }
}

/** Key from `Object-Key` (or from `GET /api/uploads/{id}` if a proxy dropped the header), sha256 from the object listing. */
async function describeSuccess(opts: ResolvedOptions, credentials: Credentials, file: UppyFile<UploadMeta, TusBody>, uploadUrl: string, objectKey: string | null): Promise<UploadResult> {
  let key: string | null = null;
  try {
    key = objectKey ? decodeKey(objectKey) : null;
  } catch {
    // a malformed header (a proxy mangled it): ask the gateway instead
  }
  if (!key) {
    const id = uploadUrl.split('/').filter(Boolean).pop() ?? '';
    const status = await getJson<{ key?: string }>(credentials, `${opts.apiBase}/api/uploads/${encodeURIComponent(id)}`);
    key = status?.key ?? `models/${opts.owner || 'anonymous'}/${file.meta.filename}`;
  }
  // limit=1 finds the key itself: it sorts before every longer key it is a prefix of.
  const listing = await getJson<{ objects?: Array<{ key: string; metadata?: Record<string, string> }> }>(
    credentials,
    `${opts.apiBase}/api/objects?prefix=${encodeURIComponent(key)}&limit=1`,
  );
  const object = listing?.objects?.find((o) => o.key === key);
  return {
    fileName: file.name ?? key,
    key,
    size: file.size ?? 0,
    downloadUrl: `${opts.apiBase}/api/objects/${encodeKey(key)}`,
    sha256: object?.metadata?.sha256,
    uploadUrl,
  };
}

async function getJson<T>(credentials: Credentials, url: string): Promise<T | null> {
  try {
    const res = await credentials.fetch(url, { headers: { Accept: 'application/json' } });
    return res.ok ? ((await res.json()) as T) : null;
  } catch {
    return null;
  }
}
