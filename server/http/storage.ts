import { pipeline, Transform } from 'node:stream';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { AppDeps } from './deps.ts';
import { errors } from '../errors.ts';
import { servesSignedUrls } from '../storage/index.ts';
import { decodeKeyPath, validateKey } from '../storage/keys.ts';
import { verifyStorageSignature, type SignedBody, type SignedMethod } from '../storage/signing.ts';
import type { PutOptions } from '../storage/store.ts';
import { routerMiddleware } from './router-middleware.ts';
import { serveObject } from './serve-object.ts';

const PREFIX = '/storage/';

/** The raw value of a query parameter; a repeated one counts as absent (the signature then fails). */
function rawQuery(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The key of a presigned `/storage/{key}` request once its signature holds: 403
 * `SignatureDoesNotMatch` (wrong signature, key or method) or `ExpiredToken` otherwise.
 */
function authorizedKey(ctx: Context, method: SignedMethod, secret: string): { key: string; bound: SignedBody } {
  const key = decodeKeyPath(ctx.path.slice(PREFIX.length));
  const bound = verifyStorageSignature({
    secret,
    method,
    key,
    expires: rawQuery(ctx, 'expires'),
    signature: rawQuery(ctx, 'signature'),
    ...(method === 'PUT' ? { size: rawQuery(ctx, 'size'), sha256: rawQuery(ctx, 'sha256') } : {}),
    now: new Date(),
  });
  return { key: validateKey(key, { localfs: true }), bound };
}

/**
 * docs/api.md §4, localfs backend only: the target of presigned URLs,
 * `{publicUrl}/storage/{key}?expires={unix}&signature={hex}`. With the s3 backend the
 * URLs point at S3 itself and these routes do not exist (404).
 */
/** Passes at most `limit` bytes; one more fails the stream with EntityTooLarge (chunked bodies have no Content-Length). */
function byteLimit(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      cb(seen > limit ? errors.entityTooLarge(limit) : null, chunk);
    },
  });
}

export function storageRoutes(deps: AppDeps): Middleware {
  if (!servesSignedUrls(deps.config)) return (_ctx, next) => next();
  const { store } = deps;
  // index.ts puts the effective secret (a random one when none is configured) into the config.
  const secret = deps.config.signing.secret;
  const router = new Router();

  // A HEAD is checked against a GET signature: it reveals a subset of what the GET would,
  // and download tools ask for the size first.
  router.get('/storage/*key', async (ctx) => {
    await serveObject(ctx, authorizedKey(ctx, 'GET', secret).key, deps, 'storage');
  });

  router.put('/storage/*key', async (ctx) => {
    try {
      const { key, bound } = authorizedKey(ctx, 'PUT', secret);
      // A URL signed without a size (older than the binding) is not a capability for any body.
      if (bound.size === undefined) throw errors.signatureDoesNotMatch('the URL is not bound to a body size');
      // The signed size decides, before a byte is read: another Content-Length is refused at once
      // (as S3 refuses it through the signed header); a chunked body is counted by the Store, which
      // stores nothing when it runs longer or shorter.
      const length = ctx.get('Content-Length');
      if (length !== '' && length !== String(bound.size)) {
        throw errors.signatureDoesNotMatch(`the URL is signed for a body of ${bound.size} bytes, Content-Length is ${length}`);
      }
      // The sha256, when bound, is checked as the body streams; on a mismatch nothing is committed
      // (BadDigest). The digest computed on the way becomes the object's metadata.sha256 either way.
      const options: PutOptions = { size: bound.size, recordSha256: true, ...(bound.sha256 ? { sha256: bound.sha256 } : {}) };
      const contentType = ctx.get('Content-Type');
      if (contentType) options.contentType = contentType;
      // A presigned PUT is bounded like an upload (tus.maxSize): its holder cannot fill the disk.
      const limit = deps.config.tus.maxSize;
      if (bound.size > limit) throw errors.entityTooLarge(limit);
      const body = byteLimit(limit);
      pipeline(ctx.req, body, () => undefined); // a client that goes away fails the body, and so the put
      const info = await store.put(key, body, options);
      // As S3's PutObject: 200, the ETag, no body.
      ctx.status = 200;
      ctx.set('ETag', info.etag);
      ctx.body = '';
      ctx.remove('Content-Type');
    } catch (err) {
      // The body may be partly or wholly unread (a refused signature): do not keep the connection to drain it.
      ctx.set('Connection', 'close');
      throw err;
    }
  });

  return routerMiddleware(router);
}
