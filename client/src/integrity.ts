/**
 * Integrity in the widget (the gateway's docs/integrity.md): an `Upload-Checksum` on
 * every PATCH, and with `verify: true` the whole file's sha256 declared as metadata.
 */
import { createSHA256 } from 'hash-wasm';
import type { HashReply } from './hash-worker.ts';
import HashWorker from './hash-worker.ts?worker&inline';

const toBase64 = (bytes: ArrayBuffer) => {
  let s = '';
  const view = new Uint8Array(bytes);
  for (let i = 0; i < view.length; i += 0x8000) s += String.fromCharCode(...view.subarray(i, i + 0x8000));
  return btoa(s);
};

/**
 * `Upload-Checksum` for bytes [offset, offset + chunkSize) of `file` — exactly the slice
 * tus-js-client sends in that PATCH. crypto.subtle hashes off the main thread.
 */
export async function chunkChecksum(file: Blob, offset: number, chunkSize: number): Promise<string> {
  const end = Math.min(file.size, Number.isFinite(chunkSize) ? offset + chunkSize : file.size);
  const digest = await crypto.subtle.digest('SHA-256', await file.slice(offset, end).arrayBuffer());
  return `sha256 ${toBase64(digest)}`;
}

/** The hex sha256 of the whole file, in a Web Worker where one can start; `onProgress` gets bytes hashed. */
export async function fileSha256(file: Blob, onProgress: (hashed: number) => void): Promise<string> {
  let worker: Worker | undefined;
  try {
    worker = new HashWorker();
  } catch {
    worker = undefined; // a CSP without worker-src blob: — hash here, in slices
  }
  if (!worker) return hashHere(file, onProgress);
  const w = worker;
  return new Promise<string>((resolve, reject) => {
    w.onmessage = (e: MessageEvent<HashReply>) => {
      const m = e.data;
      if (m.type === 'progress') return onProgress(m.hashed);
      w.terminate();
      if (m.type === 'done') resolve(m.sha256);
      else reject(new Error(`could not hash the file: ${m.message}`));
    };
    w.onerror = () => {
      w.terminate();
      hashHere(file, onProgress).then(resolve, reject);
    };
    w.postMessage({ file });
  });
}

async function hashHere(file: Blob, onProgress: (hashed: number) => void): Promise<string> {
  const h = await createSHA256();
  h.init();
  const slice = 8 * 2 ** 20;
  for (let at = 0; at < file.size; at += slice) {
    h.update(new Uint8Array(await file.slice(at, at + slice).arrayBuffer()));
    onProgress(Math.min(file.size, at + slice));
  }
  return h.digest('hex');
}
