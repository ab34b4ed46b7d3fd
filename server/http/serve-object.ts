import { create as contentDisposition } from 'content-disposition';
import type { Context } from 'koa';
import type { AppDeps } from './deps.ts';
import { errors } from '../errors.ts';
import { readChosen } from '../storage/read-chosen.ts';
import { churned } from '../util/gc.ts';
import type { GetResult, ObjectInfo } from '../storage/store.ts';
import { evaluatePreconditions, ifRangeAllows, normalizeEtag, parseRange, type Validators } from './range.ts';

export type ServeObjectDeps = Pick<AppDeps, 'store' | 'metrics' | 'logger'>;

// A content type as RFC 9110 §8.3.1 spells it (type "/" subtype *( OWS ";" OWS parameter )).
// It comes from the uploader's `filetype` metadata: anything else is not sent as a header.
const MEDIA_TYPE = /^[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+(\s*;[\t\x20-\x7e]*)?$/;
const SHA256_HEX = /^[0-9a-f]{64}$/i;

/** The headers of a 200 GET / HEAD of `info` except Content-Length (docs/api.md §4). */
export function objectHeaders(info: ObjectInfo): Record<string, string> {
  const fileName = info.key.slice(info.key.lastIndexOf('/') + 1);
  const headers: Record<string, string> = {
    'Content-Type': MEDIA_TYPE.test(info.contentType) ? info.contentType : 'application/octet-stream',
    ETag: normalizeEtag(info.etag),
    'Last-Modified': info.lastModified.toUTCString(),
    'Accept-Ranges': 'bytes',
    // RFC 6266 with the RFC 8187 `filename*` for non-ASCII names, plus an ASCII fallback.
    'Content-Disposition': contentDisposition(fileName, { type: 'attachment' }),
    // The content type is the uploader's word: never let a browser sniff it into HTML.
    'X-Content-Type-Options': 'nosniff',
  };
  const sha256 = info.metadata.sha256;
  if (sha256 && SHA256_HEX.test(sha256)) {
    const b64 = Buffer.from(sha256, 'hex').toString('base64');
    // RFC 3230 instance digest (older clients) and RFC 9530 Repr-Digest (a structured-field
    // byte sequence). Both describe the whole representation, so they hold on a 206 too.
    headers.Digest = `sha-256=${b64}`;
    headers['Repr-Digest'] = `sha-256=:${b64}:`;
  }
  return headers;
}

const validators = (info: ObjectInfo): Validators => ({ etag: info.etag, lastModified: info.lastModified });

function hasPreconditions(ctx: Context): boolean {
  return ['If-Match', 'If-None-Match', 'If-Modified-Since', 'If-Unmodified-Since'].some((h) => ctx.get(h) !== '');
}

/** 412 or 304 as RFC 9110 §13.2.2 says; true when the response is settled. */
function answeredByPreconditions(ctx: Context, info: ObjectInfo): boolean {
  const outcome = evaluatePreconditions(
    {
      ifMatch: ctx.get('If-Match') || undefined,
      ifNoneMatch: ctx.get('If-None-Match') || undefined,
      ifModifiedSince: ctx.get('If-Modified-Since') || undefined,
      ifUnmodifiedSince: ctx.get('If-Unmodified-Since') || undefined,
    },
    validators(info),
  );
  if (outcome === 'failed') throw errors.preconditionFailed();
  if (outcome !== 'not-modified') return false;
  // §15.4.5: a 304 MUST carry the ETag a 200 would have carried.
  ctx.status = 304;
  ctx.set({ ETag: normalizeEtag(info.etag), 'Last-Modified': info.lastModified.toUTCString() });
  return true;
}

/**
 * Answers a GET or HEAD of `key` from the Store with a streamed body (never buffered):
 * preconditions (304/412), a single byte range (206/416), and the headers of docs/api.md §4.
 * `route` labels the served-objects metrics. The caller has validated the key.
 */
export async function serveObject(ctx: Context, key: string, deps: ServeObjectDeps, route: string): Promise<void> {
  const { store } = deps;
  if (ctx.method === 'HEAD') {
    // RFC 9110 §14.2: Range is defined for GET only, so a HEAD ignores it and answers 200.
    const info = await store.stat(key);
    if (answeredByPreconditions(ctx, info)) return;
    ctx.status = 200;
    ctx.set(objectHeaders(info));
    ctx.set('Content-Length', String(info.size));
    return;
  }
  const rangeHeader = ctx.get('Range');
  // Without Range or preconditions the object is opened straight away (one request on S3);
  // otherwise the decision needs its size and validators: readChosen lets the Store decide on
  // the info of the version it then streams (one metadata read on localfs).
  if (!rangeHeader && !hasPreconditions(ctx)) return sendBody(ctx, await store.get(key), deps, route);

  const result = await readChosen(store, key, (info) => {
    if (answeredByPreconditions(ctx, info)) return null;
    // §13.1.5: "the server SHOULD ignore the Range header field if the If-Range condition is false".
    const outcome = rangeHeader && ifRangeAllows(ctx.get('If-Range') || undefined, validators(info))
      ? parseRange(rangeHeader, info.size)
      : ({ kind: 'full' } as const);
    if (outcome.kind === 'unsatisfiable') throw errors.invalidRange(info.size);
    return outcome.kind === 'partial' ? { range: outcome.range } : {};
  });
  if (result.body) sendBody(ctx, result, deps, route);
}

function sendBody(ctx: Context, result: GetResult, deps: ServeObjectDeps, route: string): void {
  const { info, body, range } = result;
  // Bytes handed to the response, counted on the store's own stream once Koa pipes it (Readable.pipe
  // emits 'pipe' on the response): a counting Transform would add a stream stage per chunk.
  let sent = 0;
  const onPipe = (src: unknown) => {
    if (src !== body) return;
    body.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      // Garbage once the socket took it: young collections by bytes (util/gc.ts), else a 1 GiB
      // download, allocating few objects, ran ~23 full mark-compacts (bare node:http: 6).
      churned(chunk.length);
    });
  };
  ctx.res.on('pipe', onPipe);
  // A store error mid-stream: Koa's pipeline destroys the response, so the client sees fewer bytes
  // than Content-Length, never a silently truncated 200; a client that goes away destroys `body`,
  // which closes its file handle or S3 socket.
  body.once('error', (err) => deps.logger.warn({ err, key: info.key, route }, 'object stream failed mid-response'));
  ctx.res.once('close', () => {
    ctx.res.off('pipe', onPipe);
    // A client that hangs up may not have received the last few KiB of these.
    deps.metrics.bytesServed.inc({ route }, sent);
    if (ctx.res.writableFinished) deps.metrics.objectsServed.inc({ route });
  });
  ctx.set(objectHeaders(info));
  if (range) {
    ctx.status = 206;
    // §14.4: Content-Range = range-unit SP incl-range "/" complete-length
    ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${info.size}`);
  } else {
    ctx.status = 200;
  }
  ctx.body = body;
  ctx.set('Content-Length', String(range ? range.end - range.start + 1 : info.size));
}
