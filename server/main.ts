import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.ts';
import { boundSilence, gracefulClose } from './http/lifecycle.ts';
import { derivePublicUrl, type Config } from './config.ts';
import { createHooks, type Hooks } from './hooks/index.ts';
import { createReadiness } from './http/readiness.ts';
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
 * An empty `signing.secret` becomes a random one for this process (docs/api.md §4), with a
 * warning: URLs signed by it die with the process and are not valid on other instances.
 */
function withSigningSecret(config: Config, logger: Logger): Config {
  if (config.signing.secret) return config;
  logger.warn('signing.secret is empty: using a random secret for this process; presigned /storage URLs will not survive a restart (set SIGNING_SECRET)');
  return Object.freeze({ ...config, signing: Object.freeze({ ...config.signing, secret: randomBytes(32).toString('hex') }) });
}

/** Builds every part from the configuration and listens. */
export async function startGateway(loaded: Config, options: { logger?: Logger } = {}): Promise<RunningGateway> {
  const logger = options.logger ?? createLogger(loaded);
  const server = createServer({ maxHeaderSize: loaded.server.maxHeaderSize });
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(loaded.server.port, loaded.server.host, () => resolve());
    });
  // Port 0 (tests): bind first, so a derived publicUrl names the port actually bound.
  // Nobody knows the port yet, so no request arrives before the app is attached.
  if (loaded.server.port === 0) {
    await listen();
    const port = (server.address() as AddressInfo).port;
    const derived = loaded.server.publicUrl === derivePublicUrl(loaded.server.host, 0);
    loaded = Object.freeze({ ...loaded, server: Object.freeze({ ...loaded.server, port, publicUrl: derived ? derivePublicUrl(loaded.server.host, port) : loaded.server.publicUrl }) });
  }
  const config = withSigningSecret(loaded, logger);
  const metrics = createMetrics();
  let tus: Awaited<ReturnType<typeof createTusGateway>> | undefined;
  let hooks: Hooks | undefined;
  try {
    const store = await createStore(config, metrics);
    hooks = createHooks({ config, logger, metrics });
    tus = await createTusGateway({ config, store, logger, metrics, hooks });
    // Fail early, in one line: a missing bucket, bad credentials or an unreachable endpoint.
    await store.ping();
    if (config.tus.datastore === 's3' || config.redis.url) await tus.ping();
    const t = tus;
    const readiness = createReadiness({ store: () => store.ping(), tus: () => t.ping() }, logger);
    const app = createApp({ config, store, tus, logger, metrics, readiness, hooks });
    server.on('request', app.callback());
    server.once('close', () => readiness.stop());
  } catch (err) {
    if (server.listening) server.close();
    await tus?.close();
    await hooks?.close();
    throw err;
  }
  server.on('connection', (socket) => {
    metrics.connections.inc();
    socket.once('close', () => metrics.connections.dec());
  });
  boundSilence(server, config.server.requestTimeout);
  const closeServer = gracefulClose(server, config.server.shutdownTimeout, logger);

  if (!server.listening) await listen();
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;
  logger.info({ event: 'gateway.listening', url, tus: config.tus.datastore, storage: config.storage.backend }, 'listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await closeServer();
      await tus!.close();
      await hooks!.close();
    })());
  return { server, url, config, close };
}
