/**
 * The download baseline for `npm run bench`: node:http + fs.createReadStream, nothing else
 * (no router, no metadata, no logging). GET /NAME serves DIRECTORY/NAME whole, or one
 * `Range: bytes=a-b`. Run as a child process:
 *
 *   node bench/bare-files.ts DIRECTORY
 *
 * Prints one JSON line `{"event":"listening","url":...}` on stdout.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream';

const directory = process.argv[2];
if (!directory) {
  process.stderr.write('usage: node bench/bare-files.ts DIRECTORY\n');
  process.exit(2);
}

const server = createServer((req, res) => {
  const path = join(directory, basename(decodeURIComponent(req.url ?? '/')));
  stat(path).then(
    (st) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      const end = m ? Math.min(Number(m[2]), st.size - 1) : st.size - 1;
      res.writeHead(m ? 206 : 200, { 'Content-Length': end - start + 1, 'Content-Type': 'application/octet-stream' });
      pipeline(createReadStream(path, { start, end }), res, () => undefined);
    },
    () => res.writeHead(404).end(),
  );
});
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${port}` })}\n`);
});
