/** The events the gateway tells webhooks about, and the outbox's unit of work: one delivery per event and endpoint. */
export const EVENT_TYPES = [
  'upload.created',
  'upload.finished',
  'upload.failed',
  'upload.terminated',
  'upload.expired',
  'object.deleted',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** The Standard Webhooks body: `{"type","timestamp","data"}`. */
export interface WebhookEvent {
  type: EventType;
  /** ISO 8601: when it happened (the `webhook-timestamp` header is the time of each attempt). */
  timestamp: string;
  data: Record<string, unknown>;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/**
 * One event for one endpoint. `id` is the `webhook-id`: the same on every attempt,
 * so that a receiver can drop a duplicate. The endpoint's secret is never stored here:
 * it is looked up in the configuration by `url` at each attempt.
 */
export interface Delivery {
  id: string;
  url: string;
  event: WebhookEvent;
  status: DeliveryStatus;
  /** Attempts made so far. */
  attempts: number;
  /** Epoch ms: when it was recorded. */
  createdAt: number;
  /** Epoch ms: when the next attempt is due (pending only). */
  nextAt: number;
  /** Epoch ms of the last attempt, its HTTP status (0 = no answer) and error. */
  lastAttemptAt?: number;
  lastStatus?: number;
  lastError?: string;
  /** Epoch ms: delivered or given up. */
  doneAt?: number;
}

/** Durable store of deliveries. Every method's promise resolves only when the change is on disk / in Redis. */
export interface Outbox {
  /** Records new deliveries; a delivery whose id is already recorded is left as it is. */
  add(deliveries: Delivery[]): Promise<void>;
  /**
   * Up to `limit` pending deliveries that are due, each leased to the caller for `leaseMs`:
   * nobody else (no other worker, no other gateway) gets it before the lease ends.
   */
  claim(limit: number, leaseMs: number): Promise<Delivery[]>;
  /** Hands a claimed delivery back, untried, to be claimed again from `until` (nothing is written that need be durable). */
  defer(id: string, until: number): Promise<void>;
  /** Stores the outcome of an attempt: still pending (with its next due time), delivered or failed (given up). */
  settle(delivery: Delivery): Promise<void>;
  /** Deliveries in `status`, newest first, at most `limit`. */
  list(status: DeliveryStatus, limit: number): Promise<Delivery[]>;
  /** `createdAt` of the oldest pending delivery, if any. */
  oldestPending(): Promise<number | undefined>;
  /** Forgets delivered deliveries done before `before` (given-up ones are kept). */
  prune(before: number): Promise<void>;
  close(): Promise<void>;
}
