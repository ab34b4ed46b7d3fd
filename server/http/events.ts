import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AppDeps } from './deps.ts';
import { errors } from '../errors.ts';
import type { DeliveryStatus } from '../hooks/events.ts';
import { routerMiddleware } from './router-middleware.ts';

const STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'failed'];
const MAX_LIMIT = 1000;

/**
 * `GET /api/events?status=failed|pending|delivered&limit=N`: the webhook outbox, read-only,
 * newest first. `failed` are the given-up deliveries (kept until an operator removes them),
 * `pending` those still being retried. Meant for `admin`: while the gateway has no
 * identity (auth mode none) it is open like every route; with credentials it needs the
 * `admin` scope. Secrets are never part of a delivery.
 */
export function eventRoutes(deps: AppDeps): Middleware {
  const router = new Router();
  router.get('/api/events', async (ctx) => {
    const status = (ctx.query.status ?? 'failed') as DeliveryStatus;
    if (typeof status !== 'string' || !STATUSES.includes(status)) throw errors.invalidArgument('status must be one of pending, delivered, failed');
    const rawLimit = ctx.query.limit ?? '100';
    const limit = typeof rawLimit === 'string' && /^\d{1,4}$/.test(rawLimit) ? Number(rawLimit) : Number.NaN;
    if (!(limit >= 1 && limit <= MAX_LIMIT)) throw errors.invalidArgument(`limit must be an integer from 1 to ${MAX_LIMIT}`);
    ctx.set('Cache-Control', 'no-store');
    const deliveries = await deps.hooks.list(status, limit);
    ctx.body = {
      events: deliveries.map((d) => ({
        webhookId: d.id,
        url: d.url,
        type: d.event.type,
        status: d.status,
        attempts: d.attempts,
        createdAt: new Date(d.createdAt).toISOString(),
        ...(d.status === 'pending' ? { nextAttemptAt: new Date(d.nextAt).toISOString() } : {}),
        ...(d.lastAttemptAt ? { lastAttemptAt: new Date(d.lastAttemptAt).toISOString(), lastStatus: d.lastStatus } : {}),
        ...(d.lastError ? { lastError: d.lastError } : {}),
        ...(d.doneAt ? { doneAt: new Date(d.doneAt).toISOString() } : {}),
        event: d.event,
      })),
    };
  });
  return routerMiddleware(router);
}
