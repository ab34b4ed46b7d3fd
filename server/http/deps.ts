import type { Config } from '../config.ts';
import type { Hooks } from '../hooks/index.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Store } from '../storage/store.ts';
import type { TusGateway } from '../tus/types.ts';
import type { Readiness } from './readiness.ts';

/**
 * What every HTTP route is built from. Its own module so that the routes (http/*) and the
 * app that composes them (app.ts) both import it, and neither imports the other.
 */
export interface AppDeps {
  config: Config;
  store: Store;
  tus: TusGateway;
  logger: Logger;
  metrics: Metrics;
  /** Cached readiness of the Store, the tus datastore and Redis (http/readiness.ts). */
  readiness: Readiness;
  hooks: Hooks;
}
