import { Webhook } from 'standardwebhooks';
import type { Delivery } from './events.ts';

export interface AttemptResult {
  ok: boolean;
  /** The receiver's HTTP status; 0 when it did not answer (refused, reset, timed out). */
  status: number;
  error?: string;
}

/**
 * The Standard Webhooks headers for one attempt: `webhook-id` (the same on every attempt),
 * `webhook-timestamp` (now, in seconds — receivers refuse stale ones) and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`, made by the
 * `standardwebhooks` package from the endpoint's `whsec_…` secret.
 */
function signedHeaders(secret: string, id: string, body: string, now = new Date()): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, now, body),
  };
}

/** POSTs one delivery to its endpoint; any 2xx is a success. Never throws. */
export async function sendWebhook(delivery: Delivery, secret: string, timeoutMs: number): Promise<AttemptResult> {
  const body = JSON.stringify(delivery.event);
  try {
    const res = await fetch(delivery.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'upload-gateway', ...signedHeaders(secret, delivery.id, body) },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    // The body is not needed; reading (and bounding) it would only keep the socket busy.
    await res.body?.cancel().catch(() => undefined);
    const ok = res.status >= 200 && res.status < 300;
    return ok ? { ok, status: res.status } : { ok, status: res.status, error: `HTTP ${res.status}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const reason = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { ok: false, status: 0, error: reason };
  }
}
