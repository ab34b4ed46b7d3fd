/**
 * A real HTTP receiver for webhooks and preCreate calls: a node:http server on
 * 127.0.0.1 that keeps every request it got and answers each with what `respond`
 * says (a status and body, or a delay first). It can be stopped and started again on
 * the same port (a receiver that is down, then back).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface Answer {
  status?: number;
  body?: string;
  delayMs?: number;
}

export type Responder = (req: Received, index: number) => Answer;

export class Receiver {
  readonly received: Received[] = [];
  private server: Server | undefined;
  private port = 0;
  respond: Responder;

  private constructor(respond: Responder) {
    this.respond = respond;
  }

  static async start(respond: Responder = () => ({ status: 204 }), port = 0): Promise<Receiver> {
    const r = new Receiver(respond);
    await r.listen(port);
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port = this.port): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const got: Received = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
        this.received.push(got);
        const answer = this.respond(got, this.received.length - 1);
        const send = () => {
          if (res.destroyed) return;
          res.writeHead(answer.status ?? 204, answer.body ? { 'content-type': 'application/json' } : {});
          res.end(answer.body);
        };
        if (answer.delayMs) setTimeout(send, answer.delayMs);
        else send();
      });
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and cuts open connections (a receiver that is down). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** The received webhooks of `type`. */
  ofType(type: string): Received[] {
    return this.received.filter((r) => (JSON.parse(r.body) as { type?: string }).type === type);
  }

  async waitFor(predicate: () => boolean, timeoutMs = 20_000, what = 'the receiver'): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}; got ${this.received.length} requests: ${this.received.map((r) => r.body).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A fresh Standard Webhooks secret (`whsec_` + base64 of 24 random bytes). */
export const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

/** Verifies one received webhook with standardwebhooks (throws when the signature or timestamp is wrong) and returns its body. */
export function verified(secret: string, r: Received): { type: string; timestamp: string; data: Record<string, any> } {
  const headers = {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  };
  return new Webhook(secret).verify(r.body, headers) as { type: string; timestamp: string; data: Record<string, any> };
}

/** The YAML of a `hooks:` section with fast retries, for tests. */
export function hooksYaml(options: {
  webhooks?: Array<{ url: string; events: string[]; secret: string }>;
  preCreate?: { url: string; timeout?: string };
  retry?: { initialDelay?: string; maxDelay?: string; maxAge?: string };
}): string {
  const retry = { initialDelay: '200ms', maxDelay: '400ms', maxAge: '1h', ...options.retry };
  return `hooks:
  preCreate: ${JSON.stringify({ url: options.preCreate?.url ?? '', timeout: options.preCreate?.timeout ?? '2s' })}
  webhooks: ${JSON.stringify(options.webhooks ?? [])}
  delivery: { timeout: 2s, concurrency: 4, pollInterval: 100ms, keepDelivered: 7d }
  retry: ${JSON.stringify(retry)}
`;
}
