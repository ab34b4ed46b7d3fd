import pino, { type Logger } from 'pino';
import type { Config } from './config.ts';

export type { Logger };

/** One JSON line per event on stdout (pino). */
export function createLogger(config: Pick<Config, 'log'>): Logger {
  return pino({
    level: config.log.level,
    base: { service: 'upload-gateway' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['signature', 'secret', '*.secretKey', '*.secret'], censor: '[redacted]' },
  });
}
