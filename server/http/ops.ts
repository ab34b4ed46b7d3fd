import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AppDeps } from './deps.ts';
import { errors } from '../errors.ts';
import { RETRY_AFTER_S } from './readiness.ts';
import { routerMiddleware } from './router-middleware.ts';

/** docs/api.md §5: liveness, readiness and Prometheus metrics. */
export function opsRoutes(deps: AppDeps): Middleware {
  const router = new Router();

  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    // A fresh probe, which also refreshes what creations see (readiness.ts).
    const checks = await deps.readiness.probe();
    const failed = Object.entries(checks).filter(([, result]) => result !== 'ok').map(([name]) => name);
    if (failed.length === 0) {
      ctx.body = { status: 'ok', checks };
      return;
    }
    ctx.status = 503;
    ctx.set('Retry-After', String(RETRY_AFTER_S));
    // The gateway's error shape, plus which dependency failed and why.
    ctx.body = { ...errors.unavailable(`not ready: ${failed.join(', ')}`).toJSON(), checks };
  });

  router.get('/metrics', async (ctx) => {
    const text = await deps.metrics.registry.metrics();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = text;
  });

  return routerMiddleware(router);
}
