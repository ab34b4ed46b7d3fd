import type Router from '@koa/router';
import type { Middleware } from 'koa';
import compose from 'koa-compose';
import { errors } from '../errors.ts';

/**
 * A router's routes plus its `allowedMethods()`, with the 405/501 that
 * allowedMethods leaves body-less turned into the gateway's JSON error.
 * RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 response".
 */
export function routerMiddleware(router: Router): Middleware {
  const inner = compose([router.routes() as Middleware, router.allowedMethods() as Middleware]);
  return async (ctx, next) => {
    await inner(ctx, next);
    if ((ctx.status === 405 || ctx.status === 501) && ctx.body == null) {
      const allow = ctx.response.get('Allow');
      throw errors.methodNotAllowed(`${ctx.method} is not allowed on ${ctx.path}`, allow);
    }
  };
}
