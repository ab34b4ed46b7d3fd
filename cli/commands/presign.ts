import { emit, type Context } from '../context.ts';
import { usageError } from '../errors.ts';
import { requestJson } from '../http.ts';

export interface PresignFlags {
  put?: boolean;
  size?: number;
  sha256?: string;
  contentType?: string;
  expires: number;
}

interface PresignAnswer {
  url: string;
  method: 'GET' | 'PUT';
  expiresAt: string;
  headers?: Record<string, string>;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90`, `90s`, `15m`, `1h`, `7d` → seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!m) throw usageError(`--expires must be a duration such as 3600, 15m, 1h or 7d, got ${JSON.stringify(text)}`);
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2] || 's']!;
  if (seconds < 1) throw usageError('--expires must be at least 1 second');
  return seconds;
}

/** `ugw presign KEY [--put --size N] [--expires 1h]`: a URL that needs no token, via POST /api/presign. */
export async function presignCommand(ctx: Context, key: string, flags: PresignFlags): Promise<void> {
  if (flags.put && flags.size === undefined) throw usageError('--put needs --size N (the exact byte count the URL will accept)');
  if (!flags.put && (flags.size !== undefined || flags.sha256 !== undefined || flags.contentType !== undefined)) {
    throw usageError('--size, --sha256 and --content-type apply to --put only');
  }
  if (flags.sha256 !== undefined && !/^[0-9a-f]{64}$/i.test(flags.sha256)) throw usageError('--sha256 must be 64 hex digits');
  const body = {
    key,
    method: flags.put ? 'PUT' : 'GET',
    expiresIn: flags.expires,
    ...(flags.size !== undefined ? { size: flags.size } : {}),
    ...(flags.sha256 !== undefined ? { sha256: flags.sha256.toLowerCase() } : {}),
    ...(flags.contentType !== undefined ? { contentType: flags.contentType } : {}),
  };
  const answer = await requestJson<PresignAnswer>(ctx, 'POST', '/api/presign', body);
  const headerLines = Object.entries(answer.headers ?? {}).map(([k, v]) => `${k}: ${v}`);
  // The URL alone on stdout, so that `url=$(ugw presign KEY)` works; the headers to send with it follow.
  emit(ctx, answer, [answer.url, ...headerLines].join('\n'));
}
