import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, readConfigSources, type Config } from './config.ts';
import { isGatewayError } from './errors.ts';
import { createLogger } from './logger.ts';
import { startGateway } from './main.ts';
import { collectStartupGarbage } from './util/gc.ts';

// Bootstrap only: loadConfig → startGateway → signals.
let config: Config;
try {
  config = loadConfig(process.env, readConfigSources(process.env), (path) => readFileSync(path, 'utf8'));
} catch (err) {
  if (err instanceof ConfigError) {
    // One clear line naming the field, never a stack trace (docs/api.md §1).
    process.stderr.write(`upload-gateway: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger(config);
const gateway = await startGateway(config, { logger }).catch((err: Error) => {
  // A GatewayError's message says what is wrong in one line; only an unexpected error needs its stack.
  logger.fatal(isGatewayError(err) ? { event: 'gateway.startup_failed', reason: err.message } : { err }, 'start-up failed');
  process.stderr.write(`upload-gateway: start-up failed: ${err.message}\n`);
  process.exit(1);
});
// Start-up's garbage, and its grown young generation, go back to the OS before the first request.
collectStartupGarbage();

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'gateway.stopping', signal }, 'stopping: finishing requests in flight');
    gateway.close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
