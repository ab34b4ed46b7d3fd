import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, Middleware } from 'koa';
import { randomUUID } from 'node:crypto';
import { pinoHttp } from 'pino-http';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

/** Query parameters that are credentials: a log line must not make a URL usable. */
const SECRET_PARAMS = /^(signature|x-amz-signature|x-amz-credential|x-amz-security-token)$/i;
const LOGGED_HEADERS = ['user-agent', 'content-length', 'content-type', 'tus-resumable', 'upload-offset', 'upload-length', 'range', 'x-forwarded-for'];

/** `/storage/k?expires=1&signature=abc` → `/storage/k?expires=1&signature=[redacted]`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((p) => {
      const name = decodeURIComponent(p.split('=')[0]!.replace(/\+/g, ' '));
      return SECRET_PARAMS.test(name) ? `${p.split('=')[0]}=[redacted]` : p;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

function serializeReq(req: IncomingMessage) {
  const headers: Record<string, unknown> = {};
  for (const h of LOGGED_HEADERS) if (req.headers[h] !== undefined) headers[h] = req.headers[h];
  if (req.headers.authorization !== undefined) headers.authorization = '[redacted]';
  if (req.headers.cookie !== undefined) headers.cookie = '[redacted]';
  return { method: req.method, url: redactUrl(req.url ?? ''), headers };
}

/** The route pattern of a request (a bounded label), never its raw path. */
function routeOf(ctx: Context, tusPath: string): string {
  const matched = (ctx as unknown as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof matched === 'string') return matched;
  if (ctx.path === tusPath || ctx.path === `${tusPath}/`) return tusPath;
  if (ctx.path.startsWith(`${tusPath}/`)) return `${tusPath}/:id`;
  if (ctx.path.startsWith('/widget/')) return '/widget/*';
  return 'unmatched';
}

/**
 * One JSON line per request (pino-http), written when the response has finished or the
 * client went away — also for requests handed over to tus (`ctx.respond = false`) —
 * and the request-duration histogram. Authorization and signature query strings are redacted.
 */
export function requestLog(logger: Logger, metrics: Metrics, tusPath = '/files'): Middleware {
  const facts = new WeakMap<ServerResponse, () => Record<string, unknown>>();
  const httpLogger = pinoHttp({
    logger,
    genReqId: (req, res) => {
      const id = (String(req.headers['x-request-id'] ?? '') || randomUUID()).slice(0, 128);
      res.setHeader('X-Request-Id', id);
      return id;
    },
    customAttributeKeys: { reqId: 'reqId', responseTime: 'ms' },
    customLogLevel: () => 'info',
    customSuccessMessage: () => 'request',
    customErrorMessage: () => 'request',
    // A 5xx or an aborted request is a fact of this line, not a stack trace.
    customErrorObject: (_req, _res, err, val: Record<string, unknown>) => ({ ...val, err: undefined, error: err.message }),
    customProps: (_req, res) => facts.get(res)?.() ?? {},
    quietReqLogger: true,
    wrapSerializers: false,
    serializers: { req: serializeReq, res: (res: ServerResponse) => ({ statusCode: res.statusCode }) },
  });

  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const res = ctx.res;
    // Read now: once the response is done the socket may be gone, and Koa's ctx.ip would throw.
    const ip = ctx.ip;
    const status = () => (res.headersSent ? res.statusCode : 499);
    httpLogger(ctx.req, res);
    // After httpLogger: pino-http also calls customProps when the request starts, to bind them
    // to the request's logger, and a line would then carry the start's status (499) and
    // `aborted: true` as well as the final ones.
    facts.set(res, () => ({ path: ctx.path, route: routeOf(ctx, tusPath), status: status(), ip, aborted: !res.writableFinished }));
    ctx.state.requestId = (ctx.req as IncomingMessage & { id?: unknown }).id;
    const done = () => {
      res.off('finish', done);
      res.off('close', done);
      const s = status();
      metrics.httpRequests.inc({ method: ctx.method, status: String(s) });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.httpDuration.observe({ method: ctx.method, route: routeOf(ctx, tusPath), status_class: `${Math.floor(s / 100)}xx` }, seconds);
    };
    res.once('finish', done);
    res.once('close', done);
    // A streamed answer has a dozen one-shot observers (Koa's pipeline, the in-flight set of
    // lifecycle.ts, pino-http, this histogram, serve-object's abort watch): not a leak.
    res.setMaxListeners(Math.max(res.getMaxListeners(), 20));
    await next();
  };
}
