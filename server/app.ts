import cors from '@koa/cors';
import Koa from 'koa';
import { ALLOWED_HEADERS, EXPOSED_HEADERS } from './http/cors.ts';
import type { AppDeps } from './http/deps.ts';
import { errorMiddleware } from './http/error-middleware.ts';
import { readinessGate } from './http/readiness.ts';
import { requestLog } from './http/request-log.ts';
import { routes } from './http/routes.ts';

/** Koa composition, nothing else: every dependency comes in from outside. */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: deps.config.server.trustProxy });
  app.silent = true; // errors are logged by errorMiddleware, not printed by Koa
  app.use(requestLog(deps.logger, deps.metrics, deps.config.tus.path));
  app.use(errorMiddleware(deps.logger));
  app.use(
    cors({
      origin: (ctx) => ctx.get('Origin') || '*',
      allowMethods: ['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS'],
      allowHeaders: ALLOWED_HEADERS,
      exposeHeaders: EXPOSED_HEADERS,
      maxAge: 86400,
    }),
  );
  app.use(readinessGate(deps.readiness, deps.config.tus.path));
  // tus comes before any route: it owns the raw request stream under tus.path.
  app.use(deps.tus.middleware);
  app.use(routes(deps));
  return app;
}
