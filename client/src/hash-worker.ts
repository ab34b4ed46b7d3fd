/**
 * The whole file's sha256 for `verify: true`, in a Web Worker: a 10 GB model is read in
 * slices and hashed without the page's main thread doing any of it. WebCrypto cannot
 * hash incrementally (digest() wants every byte at once), hence hash-wasm here.
 */
import { createSHA256 } from 'hash-wasm';

const SLICE = 8 * 2 ** 20;

export interface HashRequest {
  file: Blob;
}
export type HashReply = { type: 'progress'; hashed: number } | { type: 'done'; sha256: string } | { type: 'error'; message: string };

self.onmessage = async (e: MessageEvent<HashRequest>) => {
  const post = (m: HashReply) => (self as unknown as { postMessage(m: HashReply): void }).postMessage(m);
  try {
    const { file } = e.data;
    const h = await createSHA256();
    h.init();
    for (let at = 0; at < file.size; at += SLICE) {
      h.update(new Uint8Array(await file.slice(at, at + SLICE).arrayBuffer()));
      post({ type: 'progress', hashed: Math.min(file.size, at + SLICE) });
    }
    post({ type: 'done', sha256: h.digest('hex') });
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
