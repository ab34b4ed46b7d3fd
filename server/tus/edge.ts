import type { Server } from '@tus/server';
import type { Context, Middleware } from 'koa';
import { errors } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { CHECKSUM_ALGORITHMS, tusRequestContext } from './checksum.ts';
import { answerFinished, finishedUpload, redirectToObject, type FinishedDeps } from './finished.ts';
import { checkHeaders, checkTusVersion, TUS_VERSION, type HeaderLimits } from './header-rules.ts';
import { isValidHost, UPLOAD_ID } from './location.ts';
import { applyMethodOverride } from './method-override.ts';
import { handlePatch, takesPatch, type PatchDeps } from './patch.ts';
import { parseUploadMetadata } from './metadata.ts';
import { applyCreationOwner, checkUploadAccess } from './upload-access.ts';

export { TUS_VERSION };

export interface EdgeDeps extends FinishedDeps, HeaderLimits {
  path: string;
  tus: Server;
  metrics: Metrics;
  /** `server.publicUrl`: stands in for a malformed Host header. */
  publicUrl: string;
  /** The PATCH handler's (patch.ts): PATCH bodies go to the datastore without @tus/server's web streams. */
  patch: PatchDeps;
}

/**
 * The Koa edge of the tus endpoint: everything the contract (docs/api.md §2) asks that
 * plain @tus/server does not do (docs/tus-server-notes.md #1–7, 12, 14, 15) is answered here,
 * before the raw request is handed over: the method override, the Host, the upload URL, the
 * request headers (header-rules.ts) and the finished uploads (finished.ts), which never
 * reach @tus/server.
 */
export function tusEdge(deps: EdgeDeps): Middleware {
  const base = deps.path;
  return async (ctx, next) => {
    if (ctx.path !== base && !ctx.path.startsWith(`${base}/`)) return next();
    applyMethodOverride(ctx);
    // "The Host header never decides an answer": a malformed one is replaced before anything parses it.
    if (!isValidHost(ctx.req.headers.host)) ctx.req.headers.host = new URL(deps.publicUrl).host;

    // ctx.path is not percent-decoded: an id is plain [A-Za-z0-9_-], anything else
    // (`/files/x/`, `/files/x%zz`, `/files/a/b`) is no upload (docs/tus-server-notes.md #14, 15).
    const rest = ctx.path.slice(base.length);
    const id = uploadIdFromPath(base, ctx.path);
    if (rest !== '' && rest !== '/' && !id) throw errors.noSuchUpload();
    const method = ctx.req.method ?? 'GET';

    if (method === 'GET') {
      if (id) await checkUploadAccess(ctx, deps, id, method);
      return redirectToObject(ctx, deps, id);
    }
    if (method !== 'OPTIONS') {
      checkTusVersion(ctx.get('Tus-Resumable'));
      ctx.set('Tus-Resumable', TUS_VERSION);
      if (method === 'POST' && id) throw errors.methodNotAllowed('POST creates uploads at the collection URL');
      if (method !== 'POST' && !id) throw errors.methodNotAllowed(`${method} needs an upload URL`);
    }
    const body = hasBody(ctx);
    const { checksum } = checkHeaders({ method, hasBody: body, get: (name) => ctx.get(name) }, deps);
    if (method === 'OPTIONS') ctx.res.setHeader('Tus-Checksum-Algorithm', CHECKSUM_ALGORITHMS.join(','));
    // docs/api.md §7: the owner comes from the credential; another owner's upload does not exist.
    if (method === 'POST') applyCreationOwner(ctx.req, parseUploadMetadata(ctx.get('Upload-Metadata')));
    if (id && method !== 'OPTIONS') await checkUploadAccess(ctx, deps, id, method);
    if (id && (method === 'HEAD' || method === 'PATCH' || method === 'DELETE')) {
      const done = await finishedUpload(deps, id, method);
      if (done) return answerFinished(ctx, deps, done, method, body);
    }

    // The raw request goes to @tus/server (PATCH: to patch.ts), which writes the response itself (errors as JSON: json-errors.ts).
    ctx.respond = false;
    const receiving = method === 'PATCH' || method === 'POST';
    if (receiving) deps.metrics.activeUploads.inc();
    try {
      await tusRequestContext.run({ method, checksum }, () =>
        method === 'PATCH' && takesPatch(ctx.req) ? handlePatch(ctx.req, ctx.res, id!, deps.patch) : deps.tus.handle(ctx.req, ctx.res),
      );
    } finally {
      if (receiving) deps.metrics.activeUploads.dec();
    }
  };
}

const hasBody = (ctx: Context) => Number(ctx.get('Content-Length') || 0) > 0 || ctx.get('Transfer-Encoding') !== '';

/** The upload id of `{base}/{id}`, or undefined for any other path. */
export function uploadIdFromPath(base: string, path: string): string | undefined {
  if (!path.startsWith(`${base}/`)) return undefined;
  const rest = path.slice(base.length + 1);
  return UPLOAD_ID.test(rest) ? rest : undefined;
}
