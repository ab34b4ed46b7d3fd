import type { Middleware } from 'koa';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

/**
 * One JSON line per request, written when the response has finished or the client
 * went away — also for requests handed over to tus (`ctx.respond = false`).
 */
export function requestLog(logger: Logger, metrics: Metrics): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const id = (ctx.get('x-request-id') || randomUUID()).slice(0, 128);
    ctx.state.requestId = id;
    ctx.set('X-Request-Id', id);
    const res = ctx.res;
    // Read now: once the response is done the socket may be gone, and Koa's ctx.ip would throw.
    const ip = ctx.ip;
    const done = () => {
      res.off('finish', done);
      res.off('close', done);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const status = res.headersSent ? res.statusCode : 499;
      metrics.httpRequests.inc({ method: ctx.method, status: String(status) });
      logger.info(
        { reqId: id, method: ctx.method, path: ctx.path, status, ms: Math.round(ms * 10) / 10, ip, aborted: !res.writableFinished },
        'request',
      );
    };
    res.once('finish', done);
    res.once('close', done);
    await next();
  };
}
