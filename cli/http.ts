import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from './context.ts';
import { CliError, EXIT, toCliError } from './errors.ts';

const BACKOFF_MS = [0, 1000, 2000, 4000, 8000];
const MAX_DELAY_MS = 10_000;

/**
 * Back-off between attempts after a network error, adding up to `seconds` (default 60: a
 * minute without a network is ridden out): 0, 1, 2, 4, 8, then every 10 s.
 */
export function retryDelays(seconds: number): number[] {
  const out: number[] = [];
  let total = 0;
  for (let i = 0; ; i++) {
    const next = BACKOFF_MS[i] ?? MAX_DELAY_MS;
    if (total + next > seconds * 1000) break;
    out.push(next);
    total += next;
  }
  // Whatever the budget, one immediate retry (a connection that went stale while idle).
  return out.length > 0 ? out : [0];
}

/** Headers for every request: the bearer token when there is one (it is never printed). */
export function authHeaders(ctx: Context): Record<string, string> {
  return ctx.token ? { Authorization: `Bearer ${ctx.token}` } : {};
}

/** A failed answer as a CliError with the server's `{"error":{"code","message"}}` when it sent one. */
export async function responseError(res: Response, what: string): Promise<CliError> {
  const text = await res.text().catch(() => '');
  let code = `HTTP${res.status}`;
  let message = `${what}: ${res.status} ${res.statusText}`.trim();
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    // not the gateway's JSON error shape: keep the status line
  }
  return new CliError(message, EXIT.failed, code, res.status);
}

/** True for errors of the network (refused, reset, cut mid-body), not of the server's answer. */
function isNetworkError(err: unknown): boolean {
  if (err instanceof CliError) return err.code === 'NetworkError' || (err.status !== undefined && err.status >= 500 && err.status !== 501);
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = String(e?.cause?.code ?? e?.code ?? '');
  // fetch rejects with a TypeError ("fetch failed") whose cause names the socket error.
  return err instanceof TypeError || NETWORK_CODES.test(code);
}

const NETWORK_CODES = /^(ECONNRESET|ECONNREFUSED|ECONNABORTED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENETDOWN|EAI_AGAIN|UND_ERR_\w+)$/;

/** Runs `attempt` again after network errors and 5xx answers, with retryDelays(ctx.retrySeconds) between tries. */
export async function withRetries<T>(ctx: Context, attempt: (n: number) => Promise<T>, onRetry?: (err: unknown, n: number) => void): Promise<T> {
  const delays = retryDelays(ctx.retrySeconds);
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      const delay = delays[n];
      if (delay === undefined || !isNetworkError(err)) throw err;
      onRetry?.(err, n + 1);
      await sleep(delay);
    }
  }
}

/** A JSON request to the gateway (with retries on network errors); throws the server's error as a CliError. */
export async function requestJson<T>(ctx: Context, method: string, path: string, body?: unknown): Promise<T> {
  return withRetries(ctx, async () => {
    let res: Response;
    try {
      res = await fetch(`${ctx.server}${path}`, {
        method,
        headers: { ...authHeaders(ctx), Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      const e = toCliError(err);
      throw new CliError(`${method} ${ctx.server}${path}: ${e.message}`, EXIT.failed, 'NetworkError');
    }
    if (!res.ok) throw await responseError(res, `${method} ${path}`);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  });
}
