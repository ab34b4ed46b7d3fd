/**
 * The baseline for `npm run bench`: a bare @tus/server + @tus/file-store on node:http,
 * nothing else (no Koa, no hashing, no finalization). Run as a child process:
 *
 *   tsx bench/bare-server.ts DIRECTORY
 *
 * Prints one JSON line `{"event":"listening","url":...}` on stdout; SIGTERM stops it.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pipeline, Transform, type Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';

const directory = process.argv[2];
if (!directory) {
  process.stderr.write('usage: tsx bench/bare-server.ts DIRECTORY\n');
  process.exit(2);
}

/**
 * `--sha256`: the same bare server doing the work the gateway must do on every byte —
 * a sha256 (node:crypto, the fastest there is here) and an fdatasync before the offset is
 * answered. The gateway/this ratio shows what the gateway's own plumbing costs, apart
 * from that work.
 */
class HashingFileStore extends FileStore {
  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    const hash = createHash('sha256');
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    pipeline(readable, tap, () => undefined);
    const newOffset = await super.write(tap, id, offset);
    const fh = await open(join(directory!, id), 'r+');
    await fh.datasync();
    await fh.close();
    hash.digest('hex');
    return newOffset;
  }
}

const withWork = process.argv.includes('--sha256');
const datastore = withWork ? new HashingFileStore({ directory }) : new FileStore({ directory });
const tus = new Server({ path: '/files', datastore });
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
