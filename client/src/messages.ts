/** Words for people: sizes, dates and what an upload error means. Pure, no DOM. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${UNITS[i]}`;
}

/** The server's own explanation, if its body says one: `{"error":{"message"}}` (docs/api.md §7) or a short text from tus. */
export function serverMessage(body: string | undefined | null): string | null {
  if (!body) return null;
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } };
    if (typeof parsed?.error?.message === 'string') return parsed.error.message;
  } catch {
    // not JSON: @tus/server answers some errors as plain text
  }
  const text = body.trim();
  return text && text.length <= 200 && !text.startsWith('<') ? text : null;
}

export interface FailedResponse {
  /** 0 when no response arrived (network). */
  status: number;
  body?: string | null;
}

/** What a refused or failed upload means, and what the user can do about it. */
export function describeFailure(fileName: string, res: FailedResponse, limits: { maxSize?: number } = {}): string {
  const detail = serverMessage(res.body);
  const why = detail ? ` The server said: ${detail.replace(/\.?$/, '.')}` : '';
  switch (true) {
    case res.status === 0:
      return `The connection to the upload server was lost and did not come back in time. Retry to continue “${fileName}” from where it stopped.`;
    case res.status === 413:
      return `“${fileName}” is larger than this server accepts${limits.maxSize ? ` (at most ${formatBytes(limits.maxSize)})` : ''}.${why}`;
    case res.status === 460:
      return `“${fileName}” did not arrive intact: its sha256 does not match the one computed before the upload (the file changed meanwhile, or was damaged on the way). Nothing was stored.${why}`;
    case res.status === 415:
      return `The server does not accept this type of file: “${fileName}”.${why}`;
    case res.status === 400:
      return `The server refused “${fileName}”: its name or owner is not allowed.${why}`;
    case res.status === 401 || res.status === 403:
      return `You are not allowed to upload “${fileName}”.${why}`;
    case res.status === 404 || res.status === 410:
      return `The upload of “${fileName}” expired on the server. Retry to start it again.${why}`;
    case res.status >= 500:
      return `The upload server had a problem (HTTP ${res.status}) with “${fileName}”. What was sent is kept: retry to continue.${why}`;
    default:
      return `The upload of “${fileName}” failed (HTTP ${res.status}).${why}`;
  }
}

/** A 460 for the whole file (its declared sha256), not for one request's body: resending cannot help. */
export const isDeclaredDigestMismatch = (body: string | null | undefined): boolean => !!body && /\bdeclared\b/.test(body);
