import { createServer } from 'node:net';

/** A loopback TCP port nothing listens on right now (for a child process or a PUBLIC_URL that must name it). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
