import { create as contentDisposition } from 'content-disposition';
import type { Context } from 'koa';
import { Transform, pipeline } from 'node:stream';
import type { AppDeps } from './deps.ts';
import { errors, isGatewayError } from '../errors.ts';
import type { ByteRange, GetResult, ObjectInfo } from '../storage/store.ts';
import { evaluatePreconditions, ifRangeAllows, normalizeEtag, parseRange, type Validators } from './range.ts';

export type ServeObjectDeps = Pick<AppDeps, 'store' | 'metrics' | 'logger'>;

// A content type as RFC 9110 §8.3.1 spells it (type "/" subtype *( OWS ";" OWS parameter )).
// It comes from the uploader's `filetype` metadata: anything else is not sent as a header.
const MEDIA_TYPE = /^[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+(\s*;[\t\x20-\x7e]*)?$/;
const SHA256_HEX = /^[0-9a-f]{64}$/i;
// stat → get can race a replacement of the object; after this many tries the last answer is served as it is.
const MAX_ATTEMPTS = 3;

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
  // otherwise its size and validators are needed first, so it is stat'ed before it is opened.
  if (!rangeHeader && !hasPreconditions(ctx)) return sendBody(ctx, await store.get(key), deps, route);

  for (let attempt = 1; ; attempt++) {
    const info = await store.stat(key);
    if (answeredByPreconditions(ctx, info)) return;
    // §13.1.5: "the server SHOULD ignore the Range header field if the If-Range condition is false".
    const outcome = rangeHeader && ifRangeAllows(ctx.get('If-Range') || undefined, validators(info))
      ? parseRange(rangeHeader, info.size)
      : ({ kind: 'full' } as const);
    if (outcome.kind === 'unsatisfiable') throw errors.invalidRange(info.size);
    const range: ByteRange | undefined = outcome.kind === 'partial' ? outcome.range : undefined;
    let result: GetResult;
    try {
      result = await store.get(key, range ? { range } : {});
    } catch (err) {
      // Replaced by a shorter object between stat and get: decide again on the new one.
      if (isGatewayError(err) && err.code === 'InvalidRange' && attempt < MAX_ATTEMPTS) continue;
      throw err;
    }
    if (result.info.etag !== info.etag && attempt < MAX_ATTEMPTS) {
      result.body.destroy();
      continue;
    }
    return sendBody(ctx, result, deps, route);
  }
}

function sendBody(ctx: Context, result: GetResult, deps: ServeObjectDeps, route: string): void {
  const { info, body, range } = result;
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sent += chunk.length;
      callback(null, chunk);
    },
  });
  // If the client goes away, Koa destroys ctx.body (`counter`) and pipeline then destroys the
  // store's stream, which closes its file handle or S3 socket. A store error mid-stream
  // destroys `counter`, and Koa's own pipeline then cuts the response short (the client sees
  // fewer bytes than Content-Length, never a silently truncated 200).
  pipeline(body, counter, (err) => {
    if (err && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
      deps.logger.warn({ err, key: info.key, route }, 'object stream failed mid-response');
    }
  });
  ctx.res.once('close', () => {
    // Bytes handed to the response (a client that hangs up may not have received the last few KiB of them).
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
  ctx.body = counter;
  ctx.set('Content-Length', String(range ? range.end - range.start + 1 : info.size));
}
