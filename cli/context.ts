import { CliError, EXIT } from './errors.ts';
import { encodeKeyPath } from '../server/storage/keys.ts';

/** The global options every command sees, resolved once (flags over environment over defaults). */
export interface Context {
  server: string;
  token: string | undefined;
  json: boolean;
  quiet: boolean;
  /** How long network errors are retried before a command gives up. */
  retrySeconds: number;
  /** Progress bars only for a human at a terminal. */
  interactive: boolean;
}

export interface GlobalFlags {
  server?: string;
  token?: string;
  json?: boolean;
  quiet?: boolean;
  retryTime?: string;
}

export const DEFAULT_SERVER = 'http://localhost:3001';

export function resolveContext(flags: GlobalFlags, env: NodeJS.ProcessEnv = process.env): Context {
  const raw = flags.server ?? env.UGW_SERVER ?? DEFAULT_SERVER;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`--server must be an http(s) URL, got ${JSON.stringify(raw)}`, EXIT.usage, 'Usage');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`--server must be an http(s) URL, got ${raw}`, EXIT.usage, 'Usage');
  const retry = flags.retryTime ?? env.UGW_RETRY_TIME ?? '60';
  if (!/^\d{1,6}$/.test(retry)) throw new CliError(`--retry-time must be a whole number of seconds, got ${JSON.stringify(retry)}`, EXIT.usage, 'Usage');
  const json = Boolean(flags.json);
  const quiet = Boolean(flags.quiet);
  return {
    server: url.href.replace(/\/+$/, ''),
    token: flags.token ?? (env.UGW_TOKEN || undefined),
    json,
    quiet,
    retrySeconds: Number(retry),
    interactive: !json && !quiet && Boolean(process.stderr.isTTY),
  };
}

/** A result: one JSON document per line with --json, else the human line (also with --quiet, which silences progress and warnings only). */
export function emit(ctx: Context, doc: unknown, human: string): void {
  process.stdout.write(`${ctx.json ? JSON.stringify(doc) : human}\n`);
}

/** A warning on stderr (never with --quiet). */
export function warn(ctx: Context, message: string): void {
  if (!ctx.quiet) process.stderr.write(`ugw: warning: ${message}\n`);
}

/** `/api/objects/{key}` with each key segment percent-encoded. */
export function objectPath(key: string): string {
  return `/api/objects/${encodeKeyPath(key)}`;
}

/** An error in one line on stderr, with its code (a JSON document with --json). The token is never part of it. */
export function printError(ctx: Pick<Context, 'json'> | undefined, err: { code: string; message: string; status?: number | undefined }): void {
  const message = err.message.replace(/\s+/g, ' ').trim();
  if (ctx?.json) process.stderr.write(`${JSON.stringify({ error: { code: err.code, message, ...(err.status ? { status: err.status } : {}) } })}\n`);
  else process.stderr.write(`ugw: ${err.code}: ${message}${err.status ? ` (${err.status})` : ''}\n`);
}
