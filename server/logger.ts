import pino, { type Logger } from 'pino';
import type { Config } from './config.ts';

export type { Logger };

/** One JSON line per event on stdout (pino); readable lines when stdout is a terminal. */
export function createLogger(config: Pick<Config, 'log'>): Logger {
  return pino({
    level: config.log.level,
    base: { service: 'upload-gateway' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['signature', 'secret', '*.secretKey', '*.secret'], censor: '[redacted]' },
    // On a terminal, lines for people (pino-pretty); anywhere else, one JSON line per event.
    ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } } : {}),
  });
}
