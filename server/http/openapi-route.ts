import Router from '@koa/router';
import type { Middleware } from 'koa';
import { routerMiddleware } from './router-middleware.ts';

/**
 * `GET /api/openapi.json`: the document of openapi.ts, serialized once. It is imported on the
 * first request, not at start-up: its objects and their JSON are ~0.25 MiB of heap that an
 * idle gateway (and most gateways, ever) never serve. The module is data only: nothing in it
 * can fail at run time that would not fail its test (test/http/openapi.test.ts).
 */
export function openapiRoutes(): Middleware {
  let body: Promise<string> | undefined;
  const router = new Router();
  router.get('/api/openapi.json', async (ctx) => {
    body ??= import('./openapi.ts').then((m) => JSON.stringify(m.openapiDocument));
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'application/json';
    ctx.body = await body;
  });
  return routerMiddleware(router);
}
