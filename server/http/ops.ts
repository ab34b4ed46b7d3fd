import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AppDeps } from '../app.ts';
import { principal } from '../auth/middleware.ts';
import { mayReadMetrics } from '../auth/policy.ts';
import { GatewayError, errors, toGatewayError } from '../errors.ts';
import { routerMiddleware } from './router-middleware.ts';

/** How long /readyz waits for each dependency: a hung backend is as unready as a failing one. */
export const READY_TIMEOUT_MS = 2000;

/** Resolves with `ok` or the reason the check failed; never rejects, never waits past `ms`. */
async function check(probe: () => Promise<void>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new GatewayError('ServiceUnavailable', `no answer within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([probe(), timeout]);
    return 'ok';
  } catch (err) {
    // A GatewayError's message is meant for clients; an unknown error's is not (it becomes "internal error").
    return toGatewayError(err).message;
  } finally {
    clearTimeout(timer);
  }
}

/** API.md §5: liveness, readiness and Prometheus metrics. */
export function opsRoutes(deps: AppDeps): Middleware {
  const router = new Router();

  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const [store, tus] = await Promise.all([check(() => deps.store.ping(), READY_TIMEOUT_MS), check(() => deps.tus.ping(), READY_TIMEOUT_MS)]);
    const checks = { store, tus };
    const failed = Object.entries(checks).filter(([, result]) => result !== 'ok').map(([name]) => name);
    if (failed.length === 0) {
      ctx.body = { status: 'ok', checks };
      return;
    }
    deps.logger.warn({ checks }, 'not ready');
    ctx.status = 503;
    // The gateway's error shape, plus which dependency failed and why.
    ctx.body = { error: { code: 'ServiceUnavailable', message: `not ready: ${failed.join(', ')}` }, checks };
  });

  router.get('/metrics', async (ctx) => {
    if (!mayReadMetrics(principal(ctx))) throw errors.accessDenied('/metrics needs the "admin" scope');
    const text = await deps.metrics.registry.metrics();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = text;
  });

  return routerMiddleware(router);
}
