import type { Context, Middleware } from 'koa';
import type { Config } from '../config.ts';
import { errors } from '../errors.ts';
import { API_KEY_PREFIX, type ApiKeyMatcher } from './api-keys.ts';
import { TokenError, type JwtVerifier } from './jwt.ts';
import { ANONYMOUS_PRINCIPAL, OPEN_PRINCIPAL, setPrincipal, type Principal } from './principal.ts';

/** Routes that never need a credential: health, the demo page and widget, the widget's config, signed URLs (capabilities). */
function isPublicPath(path: string): boolean {
  return path === '/healthz' || path === '/readyz' || path === '/' || path === '/api/config' || path.startsWith('/widget/') || path.startsWith('/storage/');
}

const isObjectRead = (ctx: Context) =>
  (ctx.method === 'GET' || ctx.method === 'HEAD') && (ctx.path === '/api/objects' || ctx.path.startsWith('/api/objects/'));

export function principal(ctx: Context): Principal {
  return (ctx.state.principal as Principal | undefined) ?? OPEN_PRINCIPAL;
}

function set(ctx: Context, p: Principal) {
  ctx.state.principal = p;
  setPrincipal(ctx.req, p);
}

/**
 * Parses Authorization once per request and sets the principal (ctx.state.principal and
 * principalOf(req)); 401 for a missing credential where one is needed or a bad one anywhere.
 * What the principal may then do is for each route to ask (policy.ts).
 */
export function authMiddleware(config: Config, verifyJwt: JwtVerifier | undefined, matchKey: ApiKeyMatcher): Middleware {
  const { auth } = config;
  if (auth.mode === 'none') {
    return (ctx, next) => {
      set(ctx, OPEN_PRINCIPAL);
      return next();
    };
  }
  return async (ctx, next) => {
    // A preflight carries no credential (Fetch: "CORS-preflight requests never include credentials");
    // an OPTIONS overridden into another method is that method.
    const preflight = ctx.method === 'OPTIONS' && !ctx.get('X-HTTP-Method-Override');
    if (preflight || isPublicPath(ctx.path)) {
      set(ctx, ANONYMOUS_PRINCIPAL);
      return next();
    }
    const header = ctx.get('Authorization');
    if (!header) {
      set(ctx, ANONYMOUS_PRINCIPAL);
      if (auth.publicRead && isObjectRead(ctx)) return next();
      throw errors.unauthorized('A credential is required: Authorization: Bearer <token or API key>', false);
    }
    const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(header);
    if (!m) throw errors.unauthorized('Authorization must be "Bearer <token or API key>"', true);
    const credential = m[1]!;
    let p: Principal | undefined;
    if (credential.startsWith(API_KEY_PREFIX)) {
      p = matchKey(credential);
      if (!p) throw errors.unauthorized('The API key is not known', true);
    } else {
      if (!verifyJwt) throw errors.unauthorized('This gateway accepts API keys only (no auth.jwt configured)', true);
      try {
        p = await verifyJwt(credential);
      } catch (err) {
        if (err instanceof TokenError) throw errors.unauthorized(`Invalid token: ${err.message}`, true);
        throw err;
      }
    }
    set(ctx, p);
    return next();
  };
}
