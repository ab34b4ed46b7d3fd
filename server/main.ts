import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.ts';
import { loadApiKeys } from './auth/api-keys.ts';
import { createJwtVerifier } from './auth/jwt.ts';
import { authMiddleware } from './auth/middleware.ts';
import { boundSilence, gracefulClose } from './http/lifecycle.ts';
import type { Config } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { createStore } from './storage/index.ts';
import { createTusGateway } from './tus/index.ts';

export interface RunningGateway {
  server: Server;
  /** `http://host:port` actually bound (port 0 resolved). */
  url: string;
  config: Config;
  /** Graceful stop: no new connections, requests in flight finish (bounded by server.shutdownTimeout). */
  close(): Promise<void>;
}

/**
 * An empty `signing.secret` becomes a random one for this process (API.md §4), with a
 * warning: URLs signed by it die with the process and are not valid on other instances.
 */
export function withSigningSecret(config: Config, logger: Logger): Config {
  if (config.signing.secret) return config;
  logger.warn('signing.secret is empty: using a random secret for this process; presigned /storage URLs will not survive a restart (set SIGNING_SECRET)');
  return Object.freeze({ ...config, signing: Object.freeze({ ...config.signing, secret: randomBytes(32).toString('hex') }) });
}

/** Builds every part from the configuration and listens. */
export async function startGateway(loaded: Config, options: { logger?: Logger } = {}): Promise<RunningGateway> {
  const logger = options.logger ?? createLogger(loaded);
  const config = withSigningSecret(loaded, logger);
  const metrics = createMetrics();
  const store = await createStore(config);
  const tus = await createTusGateway({ config, store, logger, metrics });
  const authenticate = authMiddleware(config, createJwtVerifier(config.auth.jwt), await loadApiKeys(config.auth));
  const app = createApp({ config, store, tus, logger, metrics, authenticate });

  const server = createServer({ maxHeaderSize: config.server.maxHeaderSize }, app.callback());
  boundSilence(server, config.server.requestTimeout);
  const closeServer = gracefulClose(server, config.server.shutdownTimeout, logger);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.server.port, config.server.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;
  logger.info({ event: 'gateway.listening', url, tus: config.tus.datastore, storage: config.storage.backend }, 'listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await closeServer();
      await tus.close();
    })());
  return { server, url, config, close };
}
