import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AppDeps } from './deps.ts';
import { errors } from '../errors.ts';
import { routerMiddleware } from './router-middleware.ts';

// Upload ids are tus ids: URL-safe and short. Anything else cannot name an upload.
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** docs/api.md §2: `GET /api/uploads/{id}` → `200 {"id","offset","length","status","key"?,"metadata"}`. */
export function uploadRoutes(deps: AppDeps): Middleware {
  const router = new Router();
  router.get('/api/uploads/:id', async (ctx) => {
    const id = ctx.params.id ?? '';
    if (!UPLOAD_ID.test(id)) throw errors.noSuchUpload(`No such upload: ${id.slice(0, 128)}`);
    ctx.set('Cache-Control', 'no-store'); // the state changes with every PATCH
    ctx.body = await deps.tus.status(id);
  });
  return routerMiddleware(router);
}
