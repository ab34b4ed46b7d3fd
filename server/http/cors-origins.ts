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
