import type { Context } from 'koa';
import { errors } from '../errors.ts';

const OVERRIDABLE = new Set(['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * "The X-HTTP-Method-Override request header MUST be a string which MUST be
 * interpreted as the request's method by the Server, if the header is presented."
 * Rewrites `ctx.req.method` before anything reads it; InvalidArgument for a method tus has not.
 */
export function applyMethodOverride(ctx: Context): void {
  const override = ctx.get('X-HTTP-Method-Override').trim().toUpperCase();
  if (!override) return;
  if (!OVERRIDABLE.has(override)) throw errors.invalidArgument(`X-HTTP-Method-Override: unsupported method ${override}`);
  // Node decided from the wire method whether the answer has a body: a HEAD answer
  // on a wire DELETE would announce a Content-Length and never send it.
  if (override === 'HEAD' && ctx.req.method !== 'HEAD') answerWithoutBody(ctx);
  ctx.req.method = override;
}

/**
 * "Every answer is a complete HTTP message for the method on the wire": whatever is
 * answered (HEAD headers, an error's JSON), the message carries no body and says so.
 * Written by hand on the Node response because the answer may come from Koa or from
 * @tus/server (which writes the raw response itself), and both must be cut the same way.
 */
function answerWithoutBody(ctx: Context) {
  const res = ctx.res;
  const writeHead = res.writeHead;
  res.writeHead = function (this: typeof res, ...args: unknown[]) {
    const framing = (k: unknown) => /^(content-length|transfer-encoding)$/i.test(String(k));
    for (const [i, arg] of args.entries()) {
      if (i === 0 || !arg || typeof arg !== 'object') continue;
      if (Array.isArray(arg) && Array.isArray(arg[0])) args[i] = arg.filter((pair: unknown[]) => !framing(pair[0]));
      else if (Array.isArray(arg)) args[i] = arg.filter((_v, j) => !framing(arg[j - (j % 2)]));
      else for (const k of Object.keys(arg)) if (framing(k)) delete (arg as Record<string, unknown>)[k];
    }
    this.removeHeader('Transfer-Encoding');
    this.setHeader('Content-Length', '0');
    return (writeHead as (...a: unknown[]) => typeof res).apply(this, args);
  } as typeof res.writeHead;
  // Whatever is written after the head is dropped: the head said there is no body.
  const end = res.end;
  res.write = (() => true) as typeof res.write;
  res.end = function (this: typeof res, ...args: unknown[]) {
    const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined;
    return (end as (...a: unknown[]) => typeof res).call(this, cb);
  } as typeof res.end;
}
