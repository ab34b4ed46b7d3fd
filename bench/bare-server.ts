/**
 * The baseline for `npm run bench`: a bare @tus/server + @tus/file-store on node:http,
 * nothing else (no Koa, no hashing, no finalization). Run as a child process:
 *
 *   tsx bench/bare-server.ts DIRECTORY
 *
 * Prints one JSON line `{"event":"listening","url":...}` on stdout; SIGTERM stops it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';

const directory = process.argv[2];
if (!directory) {
  process.stderr.write('usage: tsx bench/bare-server.ts DIRECTORY\n');
  process.exit(2);
}

const tus = new Server({ path: '/files', datastore: new FileStore({ directory }) });
const server = createServer((req, res) => {
  tus.handle(req, res).catch((err: Error) => {
    res.destroy(err);
  });
});
// The same socket settings as the gateway (server/main.ts): no whole-request deadline.
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
