import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Delivery, Outbox } from './events.ts';
import { sendWebhook, type AttemptResult } from './webhooks.ts';

export interface DeliverySettings {
  /** Bound on one attempt (connect + answer). */
  timeout: number;
  /** Attempts in flight at once, per gateway. */
  concurrency: number;
  /** How often the outbox is looked at for due deliveries. */
  pollInterval: number;
  /** Back-off: first retry after about initialDelay, doubling up to maxDelay; given up once maxAge old. */
  initialDelay: number;
  maxDelay: number;
  maxAge: number;
  /** Delivered deliveries are forgotten this long after delivery. */
  keepDelivered: number;
}

export interface WorkerDeps {
  outbox: Outbox;
  settings: DeliverySettings;
  /** The secret of a configured endpoint, or undefined when the URL is configured no more. */
  secretFor: (url: string) => string | undefined;
  logger: Logger;
  metrics: Metrics;
}

/** Exponential back-off with "equal jitter": half the delay fixed, half random, so retries of many events spread out. */
export function backoff(attempts: number, initialDelay: number, maxDelay: number, random = Math.random): number {
  const delay = Math.min(maxDelay, initialDelay * 2 ** Math.max(0, attempts - 1));
  return Math.round(delay / 2 + (random() * delay) / 2);
}

/** What an attempt's result makes of a delivery: delivered, due again later, or given up. */
export function afterAttempt(d: Delivery, result: AttemptResult, s: DeliverySettings, now = Date.now()): Delivery {
  const tried = { ...d, attempts: d.attempts + 1, lastAttemptAt: now, lastStatus: result.status, lastError: result.error };
  if (result.ok) return { ...tried, status: 'delivered', doneAt: now, lastError: undefined };
  if (now - d.createdAt >= s.maxAge) return { ...tried, status: 'failed', doneAt: now };
  return { ...tried, nextAt: now + backoff(tried.attempts, s.initialDelay, s.maxDelay) };
}

/** A URL as logged: without its query string or credentials, which may carry secrets. */
const loggable = (url: string) => {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
};

/**
 * The delivery loop, apart from every request: each `pollInterval` it claims at most
 * `concurrency` due deliveries from the outbox (leased, so that one worker among all
 * gateways has each), attempts them in parallel with a timeout each, and stores each
 * outcome before claiming more. Memory holds one batch, whatever waits in the outbox;
 * a slow or dead receiver costs one slot for at most `timeout`, never an upload's time.
 */
export function startDeliveryWorker(deps: WorkerDeps) {
  const { outbox, settings, logger, metrics } = deps;
  // A lease outlives the attempt it covers, so nobody else starts the same delivery meanwhile.
  const leaseMs = settings.timeout * 2 + 30_000;
  let running: Promise<void> | undefined;
  let stopped = false;
  let lastPrune = 0;

  const attempt = async (d: Delivery): Promise<void> => {
    const secret = deps.secretFor(d.url);
    const result: AttemptResult = secret
      ? await sendWebhook(d, secret, settings.timeout)
      : { ok: false, status: 0, error: 'the endpoint is no longer configured' };
    const next = secret ? afterAttempt(d, result, settings) : { ...afterAttempt(d, result, settings), status: 'failed' as const, doneAt: Date.now() };
    await outbox.settle(next);
    const outcome = next.status === 'delivered' ? 'delivered' : next.status === 'failed' ? 'given_up' : 'failed';
    metrics.webhookDeliveries.inc({ result: outcome });
    const line = {
      event: 'webhook.delivery', webhookId: d.id, type: d.event.type, url: loggable(d.url), attempt: next.attempts,
      status: result.status, result: outcome, ...(result.error ? { error: result.error } : {}),
      ...(next.status === 'pending' ? { nextAttemptAt: new Date(next.nextAt).toISOString() } : {}),
    };
    if (outcome === 'delivered') logger.info(line, 'webhook delivered');
    else logger.warn(line, outcome === 'given_up' ? 'webhook given up' : 'webhook delivery failed');
  };

  const cycle = async () => {
    while (!stopped) {
      const batch = await outbox.claim(settings.concurrency, leaseMs);
      if (batch.length === 0) break;
      await Promise.all(batch.map((d) => attempt(d).catch((err) => logger.error({ err, webhookId: d.id }, 'could not store a delivery outcome'))));
    }
    const oldest = await outbox.oldestPending();
    metrics.webhookOldestPending.set(oldest === undefined ? 0 : (Date.now() - oldest) / 1000);
    if (Date.now() - lastPrune > 3600_000) {
      lastPrune = Date.now();
      await outbox.prune(Date.now() - settings.keepDelivered);
    }
  };

  /** Runs a cycle now unless one is running (a new event calls it, so delivery starts at once). */
  const kick = () => {
    if (stopped || running) return;
    running = cycle()
      .catch((err) => logger.error({ err }, 'webhook delivery cycle failed'))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(kick, settings.pollInterval);
  timer.unref();
  kick();

  return {
    kick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
