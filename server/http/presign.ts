import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { AppDeps } from './deps.ts';
import { errors, toGatewayError } from '../errors.ts';
import { principal } from '../auth/middleware.ts';
import { assertMay, mayOverwrite } from '../auth/policy.ts';
import { checkPresignedPut } from '../auth/put-admission.ts';
import { forwardedBaseUrl } from './forwarded.ts';
import { routerMiddleware } from './router-middleware.ts';

/** The presign body is three small fields: anything near this size is not one. */
const PRESIGN_BODY_LIMIT = 16 * 1024;

/**
 * Reads a small JSON body from the raw request with co-body (raw-body underneath: it stops
 * reading at `limit`, declared or not). There is no global body parser on purpose: the tus
 * middleware owns the request stream under /files.
 */
async function readJsonBody(ctx: Context, limit: number): Promise<unknown> {
  // co-body (with qs and iconv-lite) is ~1 MiB of heap that only a presign POST uses: it is
  // imported on the first one (tens of ms, once), not by every idle gateway.
  const { json: parseJson } = await import('co-body');
  try {
    // strict: only an object or an array is JSON here; `__proto__` keys are refused (co-body's default).
    return await parseJson(ctx.req, { limit, strict: true });
  } catch (err) {
    const e = err as { type?: string; status?: number };
    // The rest of the body is never read: close the connection rather than drain it.
    if (e.type === 'entity.too.large') throw errors.entityTooLarge(limit, { closeConnection: true });
    if (err instanceof SyntaxError) throw errors.invalidArgument('The body is not valid JSON (an object is expected)', err);
    if (e.status === 400) throw errors.invalidArgument(`The body could not be read: ${(err as Error).message}`, err);
    throw toGatewayError(err); // a library error keeps its status (415 for an unknown Content-Encoding)
  }
}

/** Without `expiresIn` a URL lives an hour (capped by signing.maxTtl). */
const DEFAULT_EXPIRES_IN = 3600;

function presignSchema(maxSeconds: number) {
  return z.object({
    key: z.string({ error: 'key must be a string' }),
    method: z.enum(['GET', 'PUT'], { error: 'method must be "GET" or "PUT"' }),
    expiresIn: z
      .number({ error: 'expiresIn must be a number of seconds' })
      .int('expiresIn must be a whole number of seconds')
      .min(1, 'expiresIn must be at least 1 second')
      .max(maxSeconds, `expiresIn must be at most ${maxSeconds} seconds (signing.maxTtl)`)
      .optional(),
    size: z
      .number({ error: 'size must be the byte count of the body' })
      .int('size must be a whole number of bytes')
      .min(0, 'size must not be negative')
      .optional(),
    sha256: z
      .string({ error: 'sha256 must be a string' })
      .regex(/^[0-9a-fA-F]{64}$/, 'sha256 must be 64 hex digits')
      .optional(),
    contentType: z.string({ error: 'contentType must be a string' }).min(1, 'contentType must not be empty').max(255).optional(),
    overwrite: z.boolean({ error: 'overwrite must be true or false' }).optional(),
  });
}

/**
 * docs/api.md §4: `POST /api/presign {"key","method","expiresIn"?,"size"?,"sha256"?,"contentType"?}` →
 * `{"url","method","expiresAt","headers"?}`. A PUT URL is a capability for ONE body: `size` is
 * required and bound, `sha256` bound when given (docs/presign.md); `headers` is what to send.
 */
export function presignRoutes(deps: AppDeps): Middleware {
  const { store, config } = deps;
  // The backend may cap it further (s3: SigV4's seven days).
  const maxSeconds = Math.min(Math.floor(config.signing.maxTtl / 1000), store.capabilities.maxPresignSeconds);
  const schema = presignSchema(maxSeconds);
  const router = new Router();

  router.post('/api/presign', async (ctx) => {
    const body = await readJsonBody(ctx, PRESIGN_BODY_LIMIT);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw errors.invalidArgument('The body must be a JSON object');
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      // Every message of presignSchema names its field.
      throw errors.invalidArgument(parsed.error.issues[0]!.message);
    }
    const { method, size, sha256, contentType } = parsed.data;
    const expiresIn = parsed.data.expiresIn ?? Math.min(DEFAULT_EXPIRES_IN, maxSeconds);
    const key = store.checkKey(parsed.data.key.normalize('NFC'));
    // A URL is a capability: only for a credential that could do the same itself.
    assertMay(principal(ctx), method === 'GET' ? 'read' : 'upload', key);
    if (method === 'PUT') {
      if (size === undefined) throw errors.invalidArgument('size is required for a PUT: the URL is bound to the exact byte count of the body');
      if (size > config.tus.maxSize) throw errors.entityTooLarge(config.tus.maxSize);
      if (parsed.data.overwrite && !mayOverwrite(principal(ctx), key)) throw errors.accessDenied('overwrite needs a credential that may delete this key');
      await checkPresignedPut(deps, key, parsed.data.overwrite === true);
    }
    // Both SigV4 (X-Amz-Date + X-Amz-Expires) and the localfs signature count whole seconds from now, rounded down.
    const expiresAt = new Date((Math.floor(Date.now() / 1000) + expiresIn) * 1000);
    const baseUrl = forwardedBaseUrl(ctx, config.server.trustProxy);
    const at = baseUrl ? { baseUrl } : {};
    ctx.set('Cache-Control', 'no-store');
    if (method === 'GET') {
      ctx.body = { url: await store.presignedGetUrl(key, { expiresIn, ...at }), method, expiresAt: expiresAt.toISOString() };
      return;
    }
    const put = await store.presignedPutUrl(key, { expiresIn, ...at, size: size!, ...(parsed.data.overwrite ? { overwrite: true } : {}), ...(sha256 ? { sha256 } : {}), ...(contentType ? { contentType } : {}) });
    ctx.body = { url: put.url, method, expiresAt: expiresAt.toISOString(), headers: put.headers };
  });

  return routerMiddleware(router);
}
