import Router from '@koa/router';
import type { Middleware } from 'koa';
import { principal } from '../auth/middleware.ts';
import { routerMiddleware } from './router-middleware.ts';

/** `GET /api/whoami` → `{owner, scopes, via}`: whom the request's credential acts for (the demo page shows it). */
export function whoamiRoutes(): Middleware {
  const router = new Router();
  router.get('/api/whoami', (ctx) => {
    const p = principal(ctx);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { owner: p.owner, scopes: [...p.scopes], via: p.via };
  });
  return routerMiddleware(router);
}
