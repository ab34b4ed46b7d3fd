/**
 * The Koa app (createApp) without its tus subsystem, on a real socket on 127.0.0.1, over a
 * real Store (localfs in a temp directory unless `makeStore` builds another): for the HTTP
 * routes' tests, which need to set what the tus side answers. Its middleware passes every
 * request on; `uploads` and `tusPing` stand in for its state. A whole gateway (tus
 * included) comes from ./gateway.ts, whose `testConfig` builds this fixture's configuration.
 *
 * Public surface: `startApp(options)` → `AppFixture`; `useApp(options)`, the same for the
 * calling describe block (test/support/use.ts); `AppOptions`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createApp } from '../../server/app.ts';
import { createHooks } from '../../server/hooks/index.ts';
import { createReadiness } from '../../server/http/readiness.ts';
import type { Config, Env } from '../../server/config.ts';
import { GatewayError } from '../../server/errors.ts';
import { createMetrics, type Metrics } from '../../server/metrics.ts';
import { createLocalFsStore } from '../../server/storage/localfs.ts';
import type { Store } from '../../server/storage/store.ts';
import type { TusGateway, UploadStatus } from '../../server/tus/types.ts';
import { testConfig } from './gateway.ts';
import { useStarted } from './use.ts';


export interface AppFixture {
  /** `http://127.0.0.1:{port}`, also the configured publicUrl. */
  baseUrl: string;
  config: Config;
  store: Store;
  metrics: Metrics;
  /** The localfs root (a temp directory). */
  root: string;
  /** What GET /api/uploads/{id} answers; absent ids are NoSuchUpload. */
  uploads: Map<string, UploadStatus>;
  /** What tus.ping() does (for /readyz). */
  tusPing: () => Promise<void>;
  url(path: string): string;
  close(): Promise<void>;
}

export interface AppOptions {
  env?: Env;
  /** YAML merged over the defaults (after the fixture's own temp directories). */
  overlay?: string;
  /** Builds the store from the config instead of localfs. */
  makeStore?: (config: Config) => Promise<Store>;
}

export async function startApp(options: AppOptions = {}): Promise<AppFixture> {
  const root = await mkdtemp(join(tmpdir(), 'gateway-http-'));
  // Listen first: the store signs URLs with publicUrl, which needs the port.
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { config } = await testConfig({
    env: { PUBLIC_URL: baseUrl, SIGNING_SECRET: randomBytes(32).toString('hex'), ...options.env },
    yaml: options.overlay,
    dataDir: root,
  });
  const store = options.makeStore
    ? await options.makeStore(config)
    : await createLocalFsStore({ root: config.storage.localfs.root, publicUrl: config.server.publicUrl, signingSecret: config.signing.secret });
  const metrics = createMetrics();
  const uploads = new Map<string, UploadStatus>();
  const gateway: AppFixture = {
    baseUrl,
    config,
    store,
    metrics,
    root: config.storage.localfs.root,
    uploads,
    tusPing: async () => {},
    url: (path) => baseUrl + path,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(root, { recursive: true, force: true });
    },
  };
  const tus: TusGateway = {
    middleware: async (_ctx, next) => next(),
    status: async (id) => {
      const status = uploads.get(id);
      if (!status) throw new GatewayError('NoSuchUpload', `No such upload: ${id}`);
      return status;
    },
    ping: () => gateway.tusPing(),
    close: async () => {},
  };
  const logger = pino({ level: 'silent' });
  const readiness = createReadiness({ store: () => store.ping(), tus: () => tus.ping() }, logger);
  server.once('close', () => readiness.stop());
  const app = createApp({ config, store, tus, logger, metrics, readiness, hooks: createHooks({ config, logger, metrics }) });
  server.on('request', app.callback());
  return gateway;
}

/** `startApp(options)` in the calling describe block's beforeAll, closed in its afterAll. */
export const useApp = (options: AppOptions = {}): AppFixture => useStarted('useApp', () => startApp(options));
