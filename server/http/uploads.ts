import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AppDeps } from '../app.ts';
import { principal } from '../auth/middleware.ts';
import { maySeeUpload } from '../auth/policy.ts';
import { GatewayError } from '../errors.ts';
import { routerMiddleware } from './router-middleware.ts';

// Upload ids are tus ids: URL-safe and short. Anything else cannot name an upload.
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** docs/api.md §2: `GET /api/uploads/{id}` → `200 {"id","offset","length","status","key"?,"metadata"}`. */
export function uploadRoutes(deps: AppDeps): Middleware {
  const router = new Router();
  router.get('/api/uploads/:id', async (ctx) => {
    const id = ctx.params.id ?? '';
    if (!UPLOAD_ID.test(id)) throw new GatewayError('NoSuchUpload', `No such upload: ${id.slice(0, 128)}`);
    ctx.set('Cache-Control', 'no-store'); // the state changes with every PATCH
    const status = await deps.tus.status(id);
    // Another owner's upload does not exist for this credential: the same 404 as an unknown id.
    if (!maySeeUpload(principal(ctx), status.metadata.owner)) throw new GatewayError('NoSuchUpload', `No upload ${id}`);
    ctx.body = status;
  });
  return routerMiddleware(router);
}
