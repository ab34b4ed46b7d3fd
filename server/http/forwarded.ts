import type { Context } from 'koa';

/**
 * `X-Forwarded-Prefix: /uploads` → `/uploads`: the path a trusted proxy mounts the gateway
 * under. Only plain path characters are taken (a header is not a place for a URL).
 */
export function forwardedPrefix(value: string | null | undefined): string {
  const first = (value ?? '').split(',')[0]!.trim();
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(first)) return '';
  return first.replace(/\/+$/, '');
}

/**
 * The base URL a client reached the gateway by, when `server.trustProxy` is on and the
 * proxy said so (X-Forwarded-Proto / -Host / -Prefix); otherwise undefined (use publicUrl).
 * Koa's `proxy` setting already makes ctx.protocol and ctx.host follow the first two.
 */
export function forwardedBaseUrl(ctx: Context, trustProxy: boolean): string | undefined {
  if (!trustProxy) return undefined;
  if (!ctx.get('X-Forwarded-Host') && !ctx.get('X-Forwarded-Proto') && !ctx.get('X-Forwarded-Prefix')) return undefined;
  return `${ctx.protocol}://${ctx.host}${forwardedPrefix(ctx.get('X-Forwarded-Prefix'))}`;
}
