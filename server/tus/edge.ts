import type { Server } from '@tus/server';
import type { Context, Middleware } from 'koa';
import { GatewayError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { encodeKeyPath } from '../storage/keys.ts';
import { CHECKSUM_ALGORITHMS, parseUploadChecksum, tusRequestContext } from './checksum.ts';
import type { GatewayDataStore } from './datastore.ts';
import type { Finalizer } from './finalize.ts';
import { isValidHost } from './location.ts';
import { encodeUploadMetadata, parseUploadMetadata, validateUploadMetadata } from './metadata.ts';
import type { RecordStore } from './records.ts';
import { applyCreationOwner, checkUploadAccess } from './upload-access.ts';
import type { UploadRecord } from './upload-record.ts';

export const TUS_VERSION = '1.0.0';
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;
const OVERRIDABLE = new Set(['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS']);

export interface EdgeDeps {
  path: string;
  tus: Server;
  datastore: GatewayDataStore;
  finalizer: Finalizer;
  records: RecordStore<UploadRecord>;
  metrics: Metrics;
  maxMetadataSize: number;
  /** `server.publicUrl`: stands in for a malformed Host header. */
  publicUrl: string;
  /** Refuses at creation an upload whose object the Store could not keep (its key, S3's 2 KB of metadata), rather than after the last byte. */
  checkNewObject?: (metadata: Record<string, string>) => void;
}

/**
 * The Koa edge of the tus endpoint: everything the contract (docs/api.md §2) asks that
 * plain @tus/server does not do (docs/tus-server-notes.md #1–7, 12, 14, 15) is answered here,
 * before the raw request is handed over. Finished uploads are answered from the
 * gateway's record and never reach @tus/server.
 */
export function tusEdge(deps: EdgeDeps): Middleware {
  const base = deps.path;
  return async (ctx, next) => {
    if (ctx.path !== base && !ctx.path.startsWith(`${base}/`)) return next();

    // "The X-HTTP-Method-Override request header MUST be a string which MUST be
    // interpreted as the request's method by the Server, if the header is presented."
    const override = ctx.get('X-HTTP-Method-Override').trim().toUpperCase();
    if (override) {
      if (!OVERRIDABLE.has(override)) throw new GatewayError('InvalidArgument', `X-HTTP-Method-Override: unsupported method ${override}`);
      // Node decided from the wire method whether the answer has a body: a HEAD answer
      // on a wire DELETE would announce a Content-Length and never send it.
      if (override === 'HEAD' && ctx.req.method !== 'HEAD') answerWithoutBody(ctx);
      ctx.req.method = override;
    }
    // "The Host header never decides an answer": a malformed one is replaced before anything parses it.
    if (!isValidHost(ctx.req.headers.host)) ctx.req.headers.host = new URL(deps.publicUrl).host;

    // ctx.path is not percent-decoded: an id is plain [A-Za-z0-9_-], anything else
    // (`/files/x/`, `/files/x%zz`, `/files/a/b`) is no upload (docs/tus-server-notes.md #14, 15).
    const rest = ctx.path.slice(base.length);
    const id = uploadIdFromPath(base, ctx.path);
    if (rest !== '' && rest !== '/' && !id) throw new GatewayError('NoSuchUpload', 'No such upload');
    const method = ctx.req.method ?? 'GET';

    if (method === 'GET') {
      if (id) await checkUploadAccess(ctx, deps, id, method);
      return getUpload(ctx, deps, id);
    }
    if (method !== 'OPTIONS') {
      // "If the version specified by the Client is not supported by the Server, it MUST respond
      // with the 412 Precondition Failed status and MUST include the Tus-Version header"
      if (ctx.get('Tus-Resumable') !== TUS_VERSION) {
        throw new GatewayError('PreconditionFailed', `Tus-Resumable ${TUS_VERSION} required`, {
          headers: { 'Tus-Version': TUS_VERSION, 'Tus-Resumable': TUS_VERSION },
        });
      }
      ctx.set('Tus-Resumable', TUS_VERSION);
      if (method === 'POST' && id) throw new GatewayError('MethodNotAllowed', 'POST creates uploads at the collection URL');
      if (method !== 'POST' && !id) throw new GatewayError('MethodNotAllowed', `${method} needs an upload URL`);
    }
    if (method === 'PATCH') {
      // "All PATCH requests MUST use Content-Type: application/offset+octet-stream, otherwise the server SHOULD return a 415"
      if (!isOffsetOctetStream(ctx)) {
        throw new GatewayError('UnsupportedMediaType', 'PATCH requires Content-Type: application/offset+octet-stream');
      }
    }
    // "A creation-with-upload POST with a body follows the PATCH rules (wrong Content-Type → 415)."
    if (method === 'POST' && hasBody(ctx) && !isOffsetOctetStream(ctx)) {
      throw new GatewayError('UnsupportedMediaType', 'a creation-with-upload body requires Content-Type: application/offset+octet-stream');
    }
    checkNumericHeaders(ctx, method);
    const checksum = method === 'PATCH' || method === 'POST' ? parseUploadChecksum(ctx.get('Upload-Checksum')) : undefined;
    if (method === 'OPTIONS') ctx.res.setHeader('Tus-Checksum-Algorithm', CHECKSUM_ALGORITHMS.join(','));
    if (method === 'POST') {
      const header = ctx.get('Upload-Metadata');
      if (Buffer.byteLength(header) > deps.maxMetadataSize) {
        throw new GatewayError('InvalidArgument', `Upload-Metadata is larger than ${deps.maxMetadataSize} bytes`);
      }
      const metadata = parseUploadMetadata(header);
      validateUploadMetadata(metadata);
      applyCreationOwner(ctx.req, metadata);
      deps.checkNewObject?.(metadata);
    }
    if (id && method !== 'OPTIONS') await checkUploadAccess(ctx, deps, id, method);
    if (id && (method === 'HEAD' || method === 'PATCH' || method === 'DELETE')) {
      const done = await finishedUpload(deps, id, method);
      if (done) return answerFinished(ctx, deps, done, method);
    }

    ctx.respond = false;
    jsonErrorsFromTus(ctx);
    const receiving = method === 'PATCH' || method === 'POST';
    if (receiving) deps.metrics.activeUploads.inc();
    try {
      await tusRequestContext.run({ method, checksum }, () => deps.tus.handle(ctx.req, ctx.res));
    } finally {
      if (receiving) deps.metrics.activeUploads.dec();
    }
  };
}

const isOffsetOctetStream = (ctx: Context) =>
  ctx.get('Content-Type').split(';')[0]!.trim().toLowerCase() === 'application/offset+octet-stream';

const hasBody = (ctx: Context) => Number(ctx.get('Content-Length') || 0) > 0 || ctx.get('Transfer-Encoding') !== '';

/**
 * "Every answer is a complete HTTP message for the method on the wire": whatever is
 * answered (HEAD headers, an error's JSON), the message carries no body and says so.
 */
function answerWithoutBody(ctx: Context) {
  const res = ctx.res;
  const writeHead = res.writeHead;
  res.writeHead = function (this: typeof res, ...args: unknown[]) {
    const framing = (k: unknown) => /^(content-length|transfer-encoding)$/i.test(String(k));
    for (const [i, arg] of args.entries()) {
      if (i === 0 || !arg || typeof arg !== 'object') continue;
      if (Array.isArray(arg) && Array.isArray(arg[0])) args[i] = arg.filter((pair: unknown[]) => !framing(pair[0]));
      else if (Array.isArray(arg)) args[i] = arg.filter((_v, j) => !framing(arg[j - (j % 2)]));
      else for (const k of Object.keys(arg)) if (framing(k)) delete (arg as Record<string, unknown>)[k];
    }
    this.removeHeader('Transfer-Encoding');
    this.setHeader('Content-Length', '0');
    return (writeHead as (...a: unknown[]) => typeof res).apply(this, args);
  } as typeof res.writeHead;
  // Whatever is written after the head is dropped: the head said there is no body.
  const end = res.end;
  res.write = (() => true) as typeof res.write;
  res.end = function (this: typeof res, ...args: unknown[]) {
    const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined;
    return (end as (...a: unknown[]) => typeof res).call(this, cb);
  } as typeof res.end;
}

const NON_NEGATIVE_INTEGER = /^(0|[1-9]\d{0,15})$/;

/**
 * "Upload-Length … MUST be a non-negative integer", "Upload-Offset … MUST be a
 * non-negative integer", "Upload-Defer-Length … value MUST be 1" (tus 1.0.0). Checked
 * here so that the 400 is JSON like every other error (@tus/server answers text).
 */
function checkNumericHeaders(ctx: Context, method: string) {
  for (const name of ['Upload-Length', 'Upload-Offset']) {
    const value = ctx.get(name);
    if (value !== '' && !NON_NEGATIVE_INTEGER.test(value)) {
      throw new GatewayError('InvalidArgument', `${name} must be a non-negative integer`);
    }
  }
  const defer = ctx.get('Upload-Defer-Length');
  if (defer !== '' && defer !== '1') throw new GatewayError('InvalidArgument', 'Upload-Defer-Length must be 1');
  if (method === 'POST' && ctx.get('Upload-Length') === '' && defer === '') {
    throw new GatewayError('InvalidArgument', 'Upload-Length or Upload-Defer-Length: 1 is required');
  }
  if (method === 'PATCH' && ctx.get('Upload-Offset') === '') throw new GatewayError('InvalidArgument', 'Upload-Offset is required');
}

/**
 * @tus/server answers with a fetch Response whose string body is `text/plain`; its error
 * bodies are JSON (see onResponseError), so they are labelled as such on the way out.
 */
function jsonErrorsFromTus(ctx: Context) {
  const res = ctx.res;
  const writeHead = res.writeHead;
  res.writeHead = function (this: typeof res, status: number, ...rest: unknown[]) {
    if (status >= 400) {
      const headers = rest.find((r) => r && typeof r === 'object') as Record<string, unknown> | unknown[] | undefined;
      if (Array.isArray(headers) && Array.isArray(headers[0])) {
        for (const pair of headers as unknown[][]) if (String(pair[0]).toLowerCase() === 'content-type') pair[1] = 'application/json; charset=utf-8';
      } else if (Array.isArray(headers)) {
        for (let i = 0; i < headers.length; i += 2) if (String(headers[i]).toLowerCase() === 'content-type') headers[i + 1] = 'application/json; charset=utf-8';
      } else if (headers) {
        for (const k of Object.keys(headers)) if (k.toLowerCase() === 'content-type') delete headers[k];
        headers['content-type'] = 'application/json; charset=utf-8';
      } else {
        this.setHeader('Content-Type', 'application/json; charset=utf-8');
      }
    }
    return (writeHead as (...a: unknown[]) => typeof res).call(this, status, ...rest);
  } as typeof res.writeHead;
}

/** The upload id of `{base}/{id}`, or undefined for any other path. */
export function uploadIdFromPath(base: string, path: string): string | undefined {
  if (!path.startsWith(`${base}/`)) return undefined;
  const rest = path.slice(base.length + 1);
  return UPLOAD_ID.test(rest) ? rest : undefined;
}

/** `GET /files/{id}`: "of a finished upload redirects (302) to /api/objects/{key}; of an unfinished one, 404." */
async function getUpload(ctx: Context, deps: EdgeDeps, id: string | undefined) {
  const rec = id ? await deps.records.get(id) : undefined;
  if (!rec || rec.status !== 'done' || !rec.key) throw new GatewayError('NoSuchUpload', 'No finished upload at this URL');
  ctx.status = 302;
  ctx.redirect(`/api/objects/${encodeKeyPath(rec.key)}`);
}

/**
 * The record of `id` if the upload is finished (finalizing it first when its last
 * byte is in but finalization has not run — e.g. the process died in between).
 */
async function finishedUpload(deps: EdgeDeps, id: string, method: string): Promise<UploadRecord | undefined> {
  const rec = await deps.records.get(id);
  if (rec?.status === 'done') return rec;
  // Also for DELETE: terminating an upload that is being finalized waits for the object, then forgets the upload.
  if (deps.finalizer.isFinalizing(id)) return deps.finalizer.finalize(id);
  if (method === 'DELETE') return undefined;
  if (method !== 'HEAD' && rec?.status !== 'finalizing') return undefined;
  const live = await deps.datastore.getLiveUpload(id).catch(() => undefined);
  if (live && live.size !== undefined && live.offset === live.size) return deps.finalizer.finalize(id);
  return undefined;
}

function answerFinished(ctx: Context, deps: EdgeDeps, rec: UploadRecord, method: string) {
  const size = String(rec.size ?? 0);
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Object-Key', encodeKeyPath(rec.key!));
  if (method === 'DELETE') {
    // Terminating a finished upload forgets the upload, never the object it became.
    ctx.status = 204;
    return deps.records.delete(rec.id);
  }
  if (method === 'PATCH') {
    if (hasBody(ctx) || ctx.get('Upload-Offset') !== size) {
      ctx.req.resume(); // drain what the client sends; nothing of it is stored
      throw new GatewayError('Conflict', 'This upload is complete; it takes no more bytes', { headers: { 'Upload-Offset': size } });
    }
  }
  ctx.set('Upload-Offset', size);
  ctx.set('Upload-Length', size);
  const meta = encodeUploadMetadata(rec.metadata);
  if (meta) ctx.set('Upload-Metadata', meta);
  // (No ctx.body here: Koa turns a null body into a 204, and HEAD must be 200.)
  ctx.status = method === 'HEAD' ? 200 : 204;
}
