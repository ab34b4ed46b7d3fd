import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AppDeps } from './deps.ts';
import { errors } from '../errors.ts';
import { UPLOAD_ID } from '../tus/location.ts';
import { routerMiddleware } from './router-middleware.ts';

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
