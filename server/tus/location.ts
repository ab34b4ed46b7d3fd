/**
 * Upload URLs (`Location`) that no client-sent `Host` decides. tus 1.0.0: "The Server
 * MUST set the Location header to the URL of the created resource. This URL MAY be
 * absolute or relative." Behind a trusted proxy (`server.trustProxy`) the forwarded
 * host and proto name the absolute URL — @tus/server reads `Forwarded` /
 * `X-Forwarded-Host` only then, and otherwise falls back to the raw `Host`, which is
 * why that case is told apart here; everything else gets a path-absolute URL under
 * `server.publicUrl`'s path, right for every client that reached the gateway at all.
 */
/** Upload ids are tus ids: URL-safe and short. Anything else cannot name an upload. */
export const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

/** Whether `host` is a well-formed `host[:port]` (a port within 1–65535). */
export function isValidHost(host: string | undefined | null): host is string {
  const m = host ? HOST.exec(host) : null;
  if (!m) return false;
  if (m[1] !== undefined && !(Number(m[1]) >= 1 && Number(m[1]) <= 65535)) return false;
  // WHATWG URL is stricter still: `4294967296` reads as an IPv4 address, out of range.
  return URL.canParse(`http://${host}/`);
}

export function uploadLocation(
  server: { publicUrl: string; trustProxy: boolean },
  at: { proto: string; host: string | undefined; path: string; id: string; prefix?: string },
): string {
  const publicPath = new URL(server.publicUrl).pathname.replace(/\/+$/, '');
  if (server.trustProxy && at.host && isValidHost(at.host)) {
    return `${at.proto === 'https' ? 'https' : 'http'}://${at.host}${at.prefix || publicPath}${at.path}/${at.id}`;
  }
  return `${publicPath}${at.path}/${at.id}`;
}
