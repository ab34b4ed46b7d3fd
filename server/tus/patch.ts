import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERRORS, type Locker, type Upload } from '@tus/utils';
import type { HashingDataStore } from './hashing-datastore.ts';

/** @tus/server's default: how long a PATCH holding the lock may go on once another request asks for it. */
export const LOCK_DRAIN_MS = 3000;

/** What the tus endpoint's options give @tus/server, shared with this handler so both answer alike. */
export interface PatchDeps {
  datastore: HashingDataStore;
  locker: Locker;
  /** tus.maxSize (`Tus-Max-Size`). */
  maxSize: number;
  onUploadFinish(upload: Upload): Promise<{ headers?: Record<string, string> }>;
  /** An error as the gateway's JSON answer (the same mapping @tus/server's onResponseError gets). */
  errorAnswer(err: unknown): { status_code: number; body: string };
}

/** Whether handlePatch takes this PATCH: a body of declared length (tus clients send one; a chunked body goes to @tus/server, with its size limiter). */
export const takesPatch = (req: IncomingMessage): boolean => req.headers['content-length'] !== undefined;

/**
 * A tus PATCH ("Upload-Offset" MUST match, bytes appended, 204 with the new offset), handled
 * on the raw Node request. Why not @tus/server's PatchHandler: in 2.x every body goes
 * through a fetch Request (srvx), `Readable.fromWeb`, a PassThrough and a StreamLimiter before
 * the datastore sees it — about 1.3 CPU-s per GiB on this machine, more than the sha256 of
 * the same bytes. Here the datastore reads the socket's own stream. What PatchHandler does is
 * kept step by step (its lock, the expiry, offset and length checks, the size limits,
 * onUploadFinish, Upload-Expires); the edge (edge.ts) has already checked the headers, the
 * upload's owner and whether it is finished.
 */
export async function handlePatch(req: IncomingMessage, res: ServerResponse, id: string, deps: PatchDeps): Promise<void> {
  const { datastore } = deps;
  const gone = new AbortController();
  const onGone = () => {
    if (!req.complete) gone.abort(ERRORS.ABORTED);
  };
  req.once('error', onGone);
  req.once('close', onGone);
  let drain: NodeJS.Timeout | undefined;
  try {
    const offset = Number(req.headers['upload-offset']);
    const lock = deps.locker.newLock(id);
    // Asked to let go (another request for this upload, e.g. the client's own resume after a
    // drop): as @tus/server, the holder keeps going for LOCK_DRAIN_MS, then its body is cut.
    // The bytes received until then are stored and counted (the datastore's write keeps them).
    await lock.lock(gone.signal, () => {
      drain ??= setTimeout(() => req.destroy(new Error('the upload lock was asked for by another request')), LOCK_DRAIN_MS);
    });
    let upload: Upload;
    let newOffset: number;
    try {
      upload = await datastore.getUpload(id);
      checkNotExpired(datastore, upload);
      // "If the offsets do not match, the Server MUST respond with the 409 Conflict status without modifying the upload resource."
      if (upload.offset !== offset) throw ERRORS.INVALID_OFFSET;
      await declareLength(req, datastore, upload, deps.maxSize);
      checkBodyLength(req, upload, deps.maxSize);
      newOffset = await datastore.write(req, id, upload.offset, upload);
    } finally {
      clearTimeout(drain);
      await lock.unlock();
    }
    upload.offset = newOffset;
    const headers: Record<string, string> = { 'Upload-Offset': String(newOffset) };
    if (newOffset === upload.size) Object.assign(headers, (await deps.onUploadFinish(upload)).headers);
    const expires = expiresAt(datastore, upload);
    if (expires) headers['Upload-Expires'] = expires;
    answer(res, 204, headers, '', gone.signal.aborted);
  } catch (err) {
    const { status_code, body } = deps.errorAnswer(err);
    answer(res, status_code, { 'Content-Type': 'application/json; charset=utf-8' }, body, gone.signal.aborted);
  } finally {
    req.off('error', onGone);
    req.off('close', onGone);
  }
}

function answer(res: ServerResponse, status: number, headers: Record<string, string>, body: string, aborted: boolean): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (body) res.setHeader('Content-Length', Buffer.byteLength(body));
  // A request that ended early leaves its body unread: the connection cannot carry another.
  if (aborted || !res.req.complete) res.setHeader('Connection', 'close');
  res.end(body || undefined);
}

/** When an upload expires (its creation plus the datastore's expiration), or undefined when uploads do not. */
function expiryOf(datastore: HashingDataStore, upload: Upload): number | undefined {
  if (!datastore.hasExtension('expiration') || datastore.getExpiration() <= 0 || !upload.creation_date) return undefined;
  return new Date(upload.creation_date).getTime() + datastore.getExpiration();
}

/** "the Server SHOULD respond with the 404 Not Found or 410 Gone status" for an upload past its expiry. */
function checkNotExpired(datastore: HashingDataStore, upload: Upload): void {
  const expiry = expiryOf(datastore, upload);
  if (expiry !== undefined && Date.now() > expiry) throw ERRORS.FILE_NO_LONGER_EXISTS;
}

/** "Upload-Expires … in RFC 9110 datetime format", on an upload not yet complete. */
function expiresAt(datastore: HashingDataStore, upload: Upload): string | undefined {
  const expiry = expiryOf(datastore, upload);
  if (expiry === undefined || (upload.size !== undefined && (upload.offset ?? 0) >= upload.size)) return undefined;
  return new Date(expiry).toUTCString();
}

/** creation-defer-length: a PATCH may carry the Upload-Length not given at creation, once. */
async function declareLength(req: IncomingMessage, datastore: HashingDataStore, upload: Upload, maxSize: number): Promise<void> {
  const header = req.headers['upload-length'];
  if (typeof header !== 'string') return; // (checked by header-rules.ts: a non-negative integer)
  const size = Number.parseInt(header, 10);
  if (!datastore.hasExtension('creation-defer-length')) throw ERRORS.UNSUPPORTED_CREATION_DEFER_LENGTH_EXTENSION;
  if (upload.size !== undefined || size < (upload.offset ?? 0)) throw ERRORS.INVALID_LENGTH;
  if (maxSize > 0 && size > maxSize) throw ERRORS.ERR_MAX_SIZE_EXCEEDED;
  await datastore.declareUploadLength(upload.id, size);
  upload.size = size;
}

/**
 * BaseHandler.calculateMaxBodySize for a declared body (takesPatch): a Content-Length past the
 * upload's length (or, deferred, past tus.maxSize) is 413 before a byte is read; Node's parser
 * then delivers exactly that many.
 */
function checkBodyLength(req: IncomingMessage, upload: Upload, maxSize: number): void {
  const end = (upload.offset ?? 0) + Number.parseInt(req.headers['content-length']!, 10);
  const limit = upload.size ?? (maxSize > 0 ? maxSize : Number.POSITIVE_INFINITY);
  if (end > limit) throw ERRORS.ERR_SIZE_EXCEEDED;
}
