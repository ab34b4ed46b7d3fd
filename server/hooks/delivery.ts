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
 * The delivery loop, apart from every request: each `pollInterval` (and at once after an
 * event is recorded) it claims due deliveries from the outbox — leased, so that one worker
 * among all gateways has each — for its free slots, at most `concurrency` attempts in
 * flight, each bounded by `timeout`. Memory holds those few deliveries, whatever waits in
 * the outbox; a slow or dead receiver holds a slot for at most `timeout`, never an upload.
 */
export function startDeliveryWorker(deps: WorkerDeps) {
  const { outbox, settings, logger, metrics } = deps;
  // A lease outlives the attempt it covers (and the write of its outcome), so nobody else starts the same
  // delivery meanwhile; if this gateway dies, another takes the delivery over once the lease ends.
  const leaseMs = settings.timeout * 2 + 5000;
  let running: Promise<void> | undefined;
  let stopped = false;
  let lastPrune = 0;
  let lastGauge = 0;

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

  // Attempts in flight, across cycles: a slow receiver holds one slot, the others go on.
  const inflight = new Set<Promise<void>>();
  // One hanging endpoint may hold at most half the slots: the other endpoints keep theirs.
  const perEndpoint = Math.max(1, Math.ceil(settings.concurrency / 2));
  const busy = new Map<string, number>();
  const track = (url: string, by: number) => {
    const n = (busy.get(url) ?? 0) + by;
    if (n > 0) busy.set(url, n);
    else busy.delete(url);
  };

  const cycle = async () => {
    while (!stopped) {
      const free = settings.concurrency - inflight.size;
      if (free <= 0) {
        await Promise.race(inflight);
        continue;
      }
      const batch = await outbox.claim(free, leaseMs);
      if (batch.length === 0) break;
      for (const d of batch) {
        const full = (busy.get(d.url) ?? 0) >= perEndpoint;
        // A delivery whose endpoint has all its slots waits for the next poll, without an attempt counted.
        const work = full ? outbox.defer(d.id, Date.now() + settings.pollInterval) : attempt(d);
        if (!full) track(d.url, 1);
        const p: Promise<void> = work
          .catch((err) => logger.error({ err, webhookId: d.id }, 'could not store a delivery outcome'))
          .finally(() => {
            inflight.delete(p);
            if (!full) track(d.url, -1);
          });
        inflight.add(p);
      }
    }
    // The gauge needs no more than a few looks a minute (a file outbox reads every pending delivery for it).
    if (Date.now() - lastGauge >= Math.max(5000, settings.pollInterval)) {
      lastGauge = Date.now();
      const oldest = await outbox.oldestPending();
      metrics.webhookOldestPending.set(oldest === undefined ? 0 : (Date.now() - oldest) / 1000);
    }
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
      await Promise.allSettled(inflight);
    },
  };
}
