/** The `hooks` section of the configuration, and the back-off the delivery worker follows. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { afterAttempt, backoff, type DeliverySettings } from '../../server/hooks/delivery.ts';
import type { Delivery } from '../../server/hooks/events.ts';
import { newSecret } from './receiver.ts';

const defaults = readFileSync(fileURLToPath(new URL('../../config/default.yaml', import.meta.url)), 'utf8');
const load = (overlay: string, env: Record<string, string> = {}) => loadConfig(env, { defaults, overlay: { name: 'overlay.yaml', text: overlay } });
const failure = (overlay: string): string => {
  try {
    load(overlay);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('the configuration was accepted');
};

describe('hooks configuration', () => {
  it('defaults to no preCreate hook, no webhooks and at least 24 h of retries', () => {
    const { hooks } = load('');
    expect(hooks.preCreate).toEqual({ url: '', timeout: 5000 });
    expect(hooks.webhooks).toEqual([]);
    expect(hooks.retry.maxAge).toBeGreaterThanOrEqual(24 * 3600_000);
    expect(hooks.delivery).toEqual({ timeout: 10_000, concurrency: 4, pollInterval: 1000, keepDelivered: 7 * 86400_000 });
  });

  it('takes several endpoints, each with its events and a whsec_ secret from the environment', () => {
    const secret = newSecret();
    const { hooks } = load(
      'hooks:\n  webhooks:\n    - { url: "https://a.example/h", events: [upload.finished], secret: "${WEBHOOK_SECRET}" }\n' +
        '    - { url: "https://b.example/h", events: [object.deleted, upload.expired], secret: "${WEBHOOK_SECRET}" }\n',
      { WEBHOOK_SECRET: secret },
    );
    expect(hooks.webhooks.map((w) => [w.url, w.events])).toEqual([
      ['https://a.example/h', ['upload.finished']],
      ['https://b.example/h', ['object.deleted', 'upload.expired']],
    ]);
    expect(hooks.webhooks[0]!.secret).toBe(secret);
  });

  it('refuses a secret that is not whsec_ + base64, an unknown event and a bad URL, naming the field', () => {
    expect(failure('hooks:\n  webhooks: [{ url: "https://a.example/h", events: [upload.finished], secret: "hunter2" }]\n')).toMatch(
      /^invalid configuration: hooks\.webhooks\.0\.secret: must be a Standard Webhooks secret/,
    );
    expect(failure('hooks:\n  webhooks: [{ url: "https://a.example/h", events: [upload.finished], secret: "" }]\n')).toMatch(/hooks\.webhooks\.0\.secret/);
    expect(failure(`hooks:\n  webhooks: [{ url: "https://a.example/h", events: [upload.done], secret: "${newSecret()}" }]\n`)).toMatch(/hooks\.webhooks\.0\.events\.0/);
    expect(failure('hooks:\n  preCreate: { url: "not a url", timeout: 5s }\n')).toMatch(/hooks\.preCreate\.url/);
  });
});

describe('delivery back-off', () => {
  const settings: DeliverySettings = { timeout: 1000, concurrency: 2, pollInterval: 100, initialDelay: 1000, maxDelay: 8000, maxAge: 24 * 3600_000, keepDelivered: 1000 };
  const delivery: Delivery = { id: 'msg_x', url: 'http://127.0.0.1:1/', event: { type: 'upload.finished', timestamp: '', data: {} }, status: 'pending', attempts: 0, createdAt: 0, nextAt: 0 };

  it('doubles from initialDelay up to maxDelay, each delay between half and all of it', () => {
    const bounds = [1, 2, 3, 4, 5, 6].map((n) => [backoff(n, 1000, 8000, () => 0), backoff(n, 1000, 8000, () => 0.999999)]);
    expect(bounds).toEqual([[500, 1000], [1000, 2000], [2000, 4000], [4000, 8000], [4000, 8000], [4000, 8000]]);
  });

  it('keeps retrying until maxAge has passed since the event, then gives it up', () => {
    const failed = { ok: false, status: 500, error: 'HTTP 500' };
    const retried = afterAttempt(delivery, failed, settings, 23 * 3600_000);
    expect(retried).toMatchObject({ status: 'pending', attempts: 1, lastStatus: 500, lastError: 'HTTP 500' });
    expect(retried.nextAt).toBeGreaterThan(23 * 3600_000);
    expect(afterAttempt(retried, failed, settings, 24 * 3600_000)).toMatchObject({ status: 'failed', attempts: 2, doneAt: 24 * 3600_000 });
    expect(afterAttempt(retried, { ok: true, status: 204 }, settings, 1000)).toMatchObject({ status: 'delivered', attempts: 2, lastError: undefined });
  });
});
