import type { Context } from 'koa';

/**
 * server.cors.origins: "*", exact origins, or "/regex/" strings. One matcher for both places
 * that answer CORS: @koa/cors (app.ts) and @tus/server, which sets Access-Control-Allow-Origin
 * on its own answers (`allowedOrigins`; left unset it answers "*" to any origin).
 */
export function originMatcher(origins: readonly string[]): (origin: string) => boolean {
  const any = origins.includes('*');
  const isPattern = (o: string) => /^\/.*\/$/.test(o);
  const exact = new Set(origins.filter((o) => !isPattern(o)));
  const patterns = origins.filter(isPattern).map((o) => new RegExp(o.slice(1, -1)));
  return (origin) => any || exact.has(origin) || patterns.some((re) => re.test(origin));
}

/**
 * For @koa/cors: an origin that matches server.cors.origins is echoed (so that Authorization may
 * be sent); one that does not gets no CORS headers, and the browser blocks it.
 */
export function corsOrigin(origins: readonly string[]): (ctx: Context) => string {
  const allowed = originMatcher(origins);
  return (ctx) => {
    const origin = ctx.get('Origin');
    if (!origin) return origins.includes('*') ? '*' : '';
    return allowed(origin) ? origin : '';
  };
}
