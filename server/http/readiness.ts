import type { Middleware } from 'koa';
import { errors, toGatewayError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/** How long each dependency may take to answer: a hung backend is as unready as a failing one. */
const READY_TIMEOUT_MS = 2000;
/** How often the cached readiness is refreshed while nothing goes wrong. */
const READY_REFRESH_MS = 5000;
/** `Retry-After` of a creation refused while a dependency is down, in seconds. */
export const RETRY_AFTER_S = 5;

export type Checks = Record<string, string>;
export type Probes = Record<string, () => Promise<void>>;

/** Resolves with `ok` or the reason the check failed; never rejects, never waits past `ms`. */
async function check(probe: () => Promise<void>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(errors.unavailable(`no answer within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([probe(), timeout]);
    return 'ok';
  } catch (err) {
    // A GatewayError's message is meant for clients; an unknown error's is not (it becomes "internal error").
    return toGatewayError(err).message;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The dependencies' readiness, probed every READY_REFRESH_MS (and at once after a 5xx
 * or a /readyz call), never once per request: a creation only reads the cached answer.
 */
export function createReadiness(probes: Probes, logger: Logger, refreshMs = READY_REFRESH_MS) {
  let checks: Checks = Object.fromEntries(Object.keys(probes).map((name) => [name, 'ok']));
  let running: Promise<Checks> | undefined;
  let [started, applied] = [0, 0];
  const failed = (c: Checks) => Object.entries(c).filter(([, r]) => r !== 'ok').map(([n]) => n);

  /** Probes every dependency now and updates the cached answer (for /readyz: always fresh). */
  const probe = async (): Promise<Checks> => {
    const seq = ++started;
    const entries = await Promise.all(Object.entries(probes).map(async ([name, probe]) => [name, await check(probe, READY_TIMEOUT_MS)] as const));
    const next = Object.fromEntries(entries);
    const [was, now] = [failed(checks), failed(next)];
    if (now.join() !== was.join()) {
      if (now.length) logger.warn({ event: 'gateway.not_ready', checks: next }, `not ready: ${now.map((n) => `${n}: ${next[n]}`).join('; ')}`);
      else logger.info({ event: 'gateway.ready', checks: next }, 'ready again');
    }
    // An older probe that ends after a newer one does not overwrite its answer.
    if (seq > applied) [checks, applied] = [next, seq];
    return next;
  };
  /** A background re-probe: at most one at a time. */
  const refresh = (): Promise<Checks> => (running ??= probe().finally(() => (running = undefined)));

  const timer = setInterval(() => void refresh(), refreshMs);
  timer.unref();
  return {
    probe,
    refresh,
    get checks(): Checks {
      return checks;
    },
    /** The names of the dependencies that did not answer at the last probe. */
    get failed(): string[] {
      return failed(checks);
    },
    stop: () => clearInterval(timer),
  };
}
export type Readiness = ReturnType<typeof createReadiness>;

/**
 * Creations (tus POST) are refused with 503 + Retry-After while a dependency is down:
 * an upload accepted now would fail at its last byte. Other requests go through (a HEAD
 * or PATCH of an existing upload gets its own answer). A 5xx answer triggers a re-probe.
 */
export function readinessGate(readiness: Readiness, tusPath: string): Middleware {
  return async (ctx, next) => {
    const isCreation = ctx.method === 'POST' && (ctx.path === tusPath || ctx.path === `${tusPath}/`);
    if (isCreation && readiness.failed.length) {
      const reasons = readiness.failed.map((n) => `${n}: ${readiness.checks[n]}`).join('; ');
      throw errors.serviceUnavailable(`Service unavailable, try again later (${reasons})`, RETRY_AFTER_S);
    }
    try {
      await next();
    } finally {
      if (ctx.res.statusCode >= 500) void readiness.refresh();
    }
  };
}
