import type { Middleware } from 'koa';
import type { AppDeps } from '../app.ts';

// Placeholder until the widget lands (issue: the Uppy widget): serves nothing.
export function widgetRoutes(_deps: AppDeps): Middleware {
  return async (_ctx, next) => next();
}
