import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import mime from 'mime-types';
import type { AppDeps } from './deps.ts';
import { errors } from '../errors.ts';
import { PACKAGE_ROOT } from '../package-root.ts';
import { routerMiddleware } from './router-middleware.ts';

const CLIENT_DIR = join(PACKAGE_ROOT, 'client');
const DIST_DIR = join(CLIENT_DIR, 'dist');
// Built file names only: no path separators, so nothing outside client/dist can be named.
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

interface CachedFile {
  mtimeMs: number;
  body: Buffer;
  etag: string;
}

/**
 * docs/api.md §6: the demo page at `/`, the built widget under `/widget/`, and
 * `GET /api/config`, the tus settings the widget adapts to (endpoint, limits, part size).
 */
export function widgetRoutes(deps: AppDeps): Middleware {
  const router = new Router();
  const cache = new Map<string, CachedFile>();

  /** Reads a file once per change (mtime), so a rebuild is served without a restart. Undefined if absent. */
  async function load(path: string): Promise<CachedFile | undefined> {
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) return undefined;
    const hit = cache.get(path);
    if (hit && hit.mtimeMs === info.mtimeMs) return hit;
    const body = await readFile(path);
    const entry = { mtimeMs: info.mtimeMs, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    cache.set(path, entry);
    return entry;
  }

  function send(ctx: Context, file: CachedFile, type: string, cacheControl: string): void {
    ctx.set('Cache-Control', cacheControl);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.etag = file.etag;
    ctx.type = type;
    ctx.status = 200;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = file.body;
  }

  router.get('/api/config', (ctx) => {
    const { tus } = deps.config;
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = { tusEndpoint: `${tus.path}/`, maxSize: tus.maxSize, partSize: tus.partSize, datastore: tus.datastore };
  });

  router.get('/', async (ctx) => {
    const page = await load(join(CLIENT_DIR, 'index.html'));
    if (!page) throw errors.notFound('The demo page is missing (client/index.html)');
    send(ctx, page, 'text/html; charset=utf-8', 'no-cache');
  });

  router.get('/widget/:file', async (ctx) => {
    const name = ctx.params.file ?? '';
    const file = ASSET_NAME.test(name) ? await load(join(DIST_DIR, name)) : undefined;
    if (!file) {
      const built = await stat(join(DIST_DIR, 'widget.js')).catch(() => undefined);
      throw errors.notFound(built ? `No widget asset ${name}` : 'The widget is not built: run `npm run build:widget`');
    }
    // Any origin may embed the widget, also pages that send Cross-Origin-Embedder-Policy.
    ctx.set('Cross-Origin-Resource-Policy', 'cross-origin');
    const type = mime.contentType(name.endsWith('.mjs') ? 'x.js' : name) || 'application/octet-stream';
    // Stable (unhashed) names that embedders link to: a short freshness, then an ETag revalidation (304).
    send(ctx, file, type, 'public, max-age=300');
  });

  return routerMiddleware(router);
}
