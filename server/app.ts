import cors from '@koa/cors';
import Koa from 'koa';
import { apiKeyMatcher } from './auth/api-keys.ts';
import { createJwtVerifier } from './auth/jwt.ts';
import { authMiddleware } from './auth/middleware.ts';
import type { Config } from './config.ts';
import { originMatcher } from './http/cors-origins.ts';
import { errorMiddleware } from './http/error-middleware.ts';
import { readinessGate, type Readiness } from './http/readiness.ts';
import { requestLog } from './http/request-log.ts';
import { routes } from './http/routes.ts';
import type { Hooks } from './hooks/index.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import type { Store } from './storage/store.ts';
import type { TusGateway } from './tus/types.ts';

export interface AppDeps {
  config: Config;
  store: Store;
  tus: TusGateway;
  logger: Logger;
  metrics: Metrics;
  /** Cached readiness of the Store, the tus datastore and Redis (http/readiness.ts). */
  readiness: Readiness;
  hooks: Hooks;
  /** The authentication middleware (main.ts builds it with auth.apiKeysFile); from auth.* alone when absent. */
  authenticate?: Koa.Middleware;
}

/** Headers a browser client must be able to read (tus and the gateway's own). */
export const EXPOSED_HEADERS = [
  'Object-Key', 'Location', 'Upload-Offset', 'Upload-Length', 'Upload-Expires', 'Upload-Metadata',
  'Upload-Defer-Length', 'Tus-Version', 'Tus-Resumable', 'Tus-Max-Size', 'Tus-Extension',
  'ETag', 'Content-Range', 'Content-Length', 'Content-Disposition', 'Digest', 'Repr-Digest', 'Accept-Ranges', 'X-Request-Id',
  'Tus-Checksum-Algorithm',
];
export const ALLOWED_HEADERS = [
  'Authorization', 'Content-Type', 'Upload-Offset', 'Upload-Length', 'Upload-Metadata', 'Upload-Defer-Length',
  'Upload-Concat', 'Tus-Resumable', 'X-HTTP-Method-Override', 'X-Requested-With', 'X-Request-Id', 'Range', 'If-None-Match',
  'Upload-Checksum',
];

/**
 * An origin that matches server.cors.origins is echoed (so that Authorization may be sent);
 * one that does not gets no CORS headers, and the browser blocks it.
 */
export function corsOrigin(origins: readonly string[]): (ctx: Koa.Context) => string {
  const allowed = originMatcher(origins);
  return (ctx) => {
    const origin = ctx.get('Origin');
    if (!origin) return origins.includes('*') ? '*' : '';
    return allowed(origin) ? origin : '';
  };
}

/** Koa composition, nothing else: every dependency comes in from outside. */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: deps.config.server.trustProxy });
  app.silent = true; // errors are logged by errorMiddleware, not printed by Koa
  app.use(requestLog(deps.logger, deps.metrics, deps.config.tus.path));
  app.use(errorMiddleware(deps.logger));
  app.use(
    cors({
      origin: corsOrigin(deps.config.server.cors.origins),
      allowMethods: ['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS'],
      allowHeaders: ALLOWED_HEADERS,
      exposeHeaders: EXPOSED_HEADERS,
      maxAge: 86400,
    }),
  );
  app.use(readinessGate(deps.readiness, deps.config.tus.path));
  app.use(deps.authenticate ?? authMiddleware(deps.config, createJwtVerifier(deps.config.auth.jwt), apiKeyMatcher(deps.config.auth.apiKeys)));
  // tus comes before any route: it owns the raw request stream under tus.path.
  app.use(deps.tus.middleware);
  app.use(routes(deps));
  return app;
}
