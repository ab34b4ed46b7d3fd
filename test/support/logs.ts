/**
 * Public surface: `capturingLogger(level)`, a pino logger whose JSON lines the test reads
 * back from `lines` (parsed, in order), for tests of what the gateway logs.
 */
import { Writable } from 'node:stream';
import pino from 'pino';

export function capturingLogger(level = 'info'): { lines: Array<Record<string, unknown>>; raw: string[]; logger: pino.Logger } {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) {
        raw.push(l);
        lines.push(JSON.parse(l));
      }
      cb();
    },
  });
  return { lines, raw, logger: pino({ level }, stream) };
}
