import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { startDeliveryWorker } from './delivery.ts';
import type { Delivery, DeliveryStatus, EventType, Outbox } from './events.ts';
import { FileOutbox } from './outbox-file.ts';
import { lazyRedisOutbox } from './outbox-redis.ts';
import { askPreCreate, type PreCreateInput } from './precreate.ts';

export type { EventType } from './events.ts';

/**
 * The scopes a request acts with while the gateway has no identity of its own (auth mode
 * none): every request may upload, read and delete. A preCreate hook sees these until
 * credentials carry real ones.
 */
export const OPEN_SCOPES: readonly string[] = Object.freeze(['upload', 'read', 'delete']);

export interface Hooks {
  /** The metadata an upload is created with: the client's, merged with the preCreate hook's. Throws its refusal (4xx) or 503. */
  preCreate(input: PreCreateInput): Promise<Record<string, string>>;
  /**
   * Records `type` durably for every endpoint subscribed to it; resolves once it is on
   * disk / in Redis (the caller answers its request only then). `dedupeKey` names an
   * event that may be emitted again after a crash (e.g. `upload.finished:{id}`): the
   * second time it is the same delivery, with the same webhook-id.
   */
  emit(type: EventType, data: Record<string, unknown>, dedupeKey?: string): Promise<void>;
  list(status: DeliveryStatus, limit: number): Promise<Delivery[]>;
  close(): Promise<void>;
}

export interface HooksDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
}

const deliveryId = (dedupeKey: string | undefined, url: string, index: number) =>
  'msg_' +
  (dedupeKey
    ? createHash('sha256').update(`${dedupeKey}\n${index}\n${url}`).digest('base64url').slice(0, 32)
    : randomBytes(18).toString('base64url'));

/** Builds the preCreate hook, the outbox (Redis when `redis.url` is set, else files beside the upload records) and its delivery worker. */
export function createHooks({ config, logger, metrics }: HooksDeps): Hooks {
  const { hooks } = config;
  // Made when first needed: a gateway without webhooks opens no Redis connection for them.
  let made: Outbox | undefined;
  const outbox = (): Outbox =>
    (made ??= config.redis.url
      ? lazyRedisOutbox(config.redis.url)
      : new FileOutbox(join(config.tus.file.directory, '.gateway', 'outbox')));
  const worker =
    hooks.webhooks.length > 0
      ? startDeliveryWorker({
          outbox: outbox(),
          logger,
          metrics,
          settings: { ...hooks.delivery, ...hooks.retry },
          secretFor: (url) => hooks.webhooks.find((w) => w.url === url)?.secret,
        })
      : undefined;

  return {
    async preCreate(input) {
      if (!hooks.preCreate.url) return input.metadata;
      return askPreCreate(hooks.preCreate.url, hooks.preCreate.timeout, input);
    },
    async emit(type, data, dedupeKey) {
      const now = Date.now();
      const event = { type, timestamp: new Date(now).toISOString(), data };
      const deliveries: Delivery[] = hooks.webhooks.flatMap((w, i) =>
        (w.events as readonly string[]).includes(type)
          ? [{ id: deliveryId(dedupeKey, w.url, i), url: w.url, event, status: 'pending' as const, attempts: 0, createdAt: now, nextAt: now }]
          : [],
      );
      if (deliveries.length === 0) return;
      await outbox().add(deliveries);
      worker?.kick();
    },
    list: (status, limit) => outbox().list(status, limit),
    async close() {
      await worker?.stop();
      await made?.close();
    },
  };
}
