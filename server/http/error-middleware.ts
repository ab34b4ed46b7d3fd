import type { Middleware } from 'koa';
import { errors, toGatewayError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/**
 * Registered first: every error thrown below becomes `{"error":{"code","message"}}`
 * with the GatewayError's status (docs/api.md §7). An unknown error is logged with its
 * stack and answered as a bare InternalError: internals never reach the client.
 */
export function errorMiddleware(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined && ctx.respond !== false) {
        throw errors.noRoute(ctx.method, ctx.path);
      }
    } catch (err) {
      const gw = toGatewayError(err);
      // A 503 is a known state (readiness.ts logs its changes once), not a fault with a stack to show.
      if (gw.status >= 500 && gw.code !== 'ServiceUnavailable') logger.error({ err: gw.cause ?? gw, path: ctx.path, method: ctx.method }, gw.message);
      if (ctx.respond === false || ctx.headerSent) {
        // The response belongs to someone else now (tus, a stream already sent): end the socket.
        ctx.req.socket.destroy();
        return;
      }
      ctx.set(gw.headers as Record<string, string>);
      ctx.status = gw.status;
      // Also for HEAD: Koa sends the headers of this body without the body itself
      // (a null body would turn the status into 204).
      ctx.body = gw.toJSON();
      ctx.set('X-Error-Code', gw.code);
    }
  };
}
