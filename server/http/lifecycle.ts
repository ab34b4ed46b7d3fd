import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from '../logger.ts';

/**
 * Bounds silence, not duration. Node's `requestTimeout` bounds the WHOLE request
 * (300 s by default) and would cut a 4 GB PATCH on a slow link; `server.timeout`
 * is a plain idle-socket timer that would also fire while the gateway itself is
 * busy finalizing a large upload before answering. So: while the body arrives, a
 * socket silent for `idleTimeout` is cut (half-dead connections, docs/tus-server-notes.md #13);
 * while the gateway works, no timer; once the answer is being written, the timer
 * again (a reader that stopped reading).
 */
export function boundSilence(server: Server, idleTimeout: number): void {
  server.requestTimeout = 0;
  server.timeout = 0;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 65_000;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    socket.setTimeout(idleTimeout);
    const bodyDone = () => socket.setTimeout(0);
    req.once('end', bodyDone);
    // A request without a body is complete as soon as it is parsed, but 'end' comes only if someone reads it.
    setImmediate(() => req.complete && req.readableLength === 0 && bodyDone());
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      socket.setTimeout(idleTimeout);
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as typeof res.writeHead;
  });
}

/**
 * Graceful stop (docs/api.md §5): stop accepting, let requests in flight finish, then
 * exit — bounded by `timeout`. Answers given while closing say `Connection: close`,
 * and connections that fall idle are closed as they do, so a keep-alive client
 * does not hold the process until the bound.
 */
export function gracefulClose(server: Server, timeout: number, logger: Logger): () => Promise<void> {
  let closing = false;
  const inFlight = new Set<ServerResponse>();
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (closing) res.shouldKeepAlive = false;
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  let done: Promise<void> | undefined;
  return () =>
    (done ??= new Promise<void>((resolve) => {
      closing = true;
      for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      const force = setTimeout(() => {
        logger.warn({ inFlight: inFlight.size }, 'shutdown timeout: closing remaining connections');
        server.closeAllConnections();
      }, timeout);
      server.close(() => {
        clearInterval(sweep);
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    }));
}
