import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Feeds bytes [start, end) of a file into `hash`, streamed; `onBytes` sees each chunk's length. */
export async function hashFileInto(hash: Hash, path: string, onBytes?: (n: number) => void, start = 0, end?: number): Promise<void> {
  if (end !== undefined && end <= start) return;
  const stream = createReadStream(path, { start, ...(end !== undefined ? { end: end - 1 } : {}), highWaterMark: 1 << 20 });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    onBytes?.(chunk.length);
  }
}

/** The sha256 (hex) of a whole file, streamed: memory does not grow with its size. */
export async function sha256File(path: string, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash('sha256');
  await hashFileInto(hash, path, onBytes);
  return hash.digest('hex');
}
