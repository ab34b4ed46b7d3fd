import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { AppDeps } from './deps.ts';
import { errors } from '../errors.ts';
import { MAX_LIST_LIMIT, type ObjectInfo, type Store } from '../storage/store.ts';
import { decodeKeyPath, validatePrefix } from '../storage/keys.ts';
import { routerMiddleware } from './router-middleware.ts';
import { serveObject } from './serve-object.ts';

const PREFIX = '/api/objects/';

/**
 * The key of a `/api/objects/{key}` request, from the raw path: Koa's `ctx.path` is not
 * percent-decoded; decodeKeyPath decodes each segment on its own and refuses one that decodes
 * to a `/` ("`{key}` in a path is the object key with each segment percent-encoded"), so
 * `models%2Falice%2Fx` is a 400, never `models/alice/x`.
 */
export function keyFromPath(ctx: Context, prefix: string, store: Store): string {
  return store.checkKey(decodeKeyPath(ctx.path.slice(prefix.length)));
}

/** One query parameter as a string; a repeated one is an error, not a silent pick. */
function queryParam(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  if (Array.isArray(value)) throw errors.invalidArgument(`${name} must be given at most once`);
  return value;
}

function parseLimit(value: string | undefined): number {
  if (value === undefined) return MAX_LIST_LIMIT;
  const limit = /^\d{1,4}$/.test(value) ? Number(value) : Number.NaN;
  if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) throw errors.invalidArgument(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  return limit;
}

const toJSON = (o: ObjectInfo) => ({
  key: o.key,
  size: o.size,
  contentType: o.contentType,
  etag: o.etag,
  lastModified: o.lastModified.toISOString(),
  metadata: o.metadata,
});

/** docs/api.md §4: list, HEAD, GET (streamed, ranges, conditionals) and DELETE of objects. */
export function objectRoutes(deps: AppDeps): Middleware {
  const { store } = deps;
  const router = new Router();

  router.get('/api/objects', async (ctx) => {
    const prefix = validatePrefix((queryParam(ctx, 'prefix') ?? '').normalize('NFC')); // keys are NFC (storage/keys.ts)
    const limit = parseLimit(queryParam(ctx, 'limit'));
    const cursor = queryParam(ctx, 'cursor') || undefined;
    const page = await store.list({ prefix, limit, ...(cursor ? { cursor } : {}) });
    ctx.body = { objects: page.objects.map(toJSON), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
  });

  // @koa/router answers HEAD with a GET route; serveObject tells them apart.
  router.get('/api/objects/*key', async (ctx) => {
    await serveObject(ctx, keyFromPath(ctx, PREFIX, store), deps, 'objects');
  });

  router.delete('/api/objects/*key', async (ctx) => {
    // "204 (also when absent, as S3)"
    const key = keyFromPath(ctx, PREFIX, store);
    await store.delete(key);
    await deps.hooks.emit('object.deleted', { key });
    ctx.status = 204;
  });

  return routerMiddleware(router);
}
