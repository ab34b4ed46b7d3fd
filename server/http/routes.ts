import compose from 'koa-compose';
import type { Middleware } from 'koa';
import type { AppDeps } from './deps.ts';
import { eventRoutes } from './events.ts';
import { objectRoutes } from './objects.ts';
import { openapiRoutes } from './openapi-route.ts';
import { opsRoutes } from './ops.ts';
import { presignRoutes } from './presign.ts';
import { storageRoutes } from './storage.ts';
import { uploadRoutes } from './uploads.ts';
import { widgetRoutes } from './widget.ts';
import { whoamiRoutes } from './whoami.ts';

/** Every plain-HTTP route of the gateway (everything but tus). Each module returns a @koa/router's middleware. */
export function routes(deps: AppDeps): Middleware {
  return compose([opsRoutes(deps), objectRoutes(deps), presignRoutes(deps), storageRoutes(deps), uploadRoutes(deps), widgetRoutes(deps), eventRoutes(deps), openapiRoutes(), whoamiRoutes()]);
}
