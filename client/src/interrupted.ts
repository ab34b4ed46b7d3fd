import { defaultOptions, type PreviousUpload } from 'tus-js-client';

/**
 * Uploads this widget started on an earlier page load and never finished.
 *
 * tus-js-client keeps each upload's URL in its urlStorage (localStorage, under a key that
 * holds the fingerprint), and @uppy/tus makes the fingerprint `tus-{file.id}-{endpoint}`
 * with a file id that begins with the Uppy id. Reading those entries back, through
 * tus-js-client's own urlStorage API, lets the widget say "add
 * model.bin again to continue (12 MiB of 40 MiB are on the server)" after a reload.
 * That is what @uppy/golden-retriever's "ghost files" would show, without its copy of
 * every file under 10 MiB into IndexedDB and without restarting uploads on its own.
 */

export interface InterruptedUpload {
  fileName: string;
  size: number;
  /** Bytes the server holds, from `GET /api/uploads/{id}` — never HEAD, which takes the upload's lock. */
  offset: number;
  uploadUrl: string;
  storageKey: string;
}

// tus-js-client's default urlStorage, the one @uppy/tus uploads with: localStorage, or a no-op
// where there is none (a sandboxed iframe, Safari's private mode).
const urlStorage = defaultOptions.urlStorage;

/** The uploads tus-js-client remembers; none when its storage cannot be read. */
async function storedUploads(): Promise<PreviousUpload[]> {
  try {
    return await urlStorage.findAllUploads();
  } catch {
    return [];
  }
}

export async function findInterrupted(apiBase: string, uppyId: string, endpoint: string, owner: string): Promise<InterruptedUpload[]> {
  // The fingerprint is in the storage key (`tus::{fingerprint}::{n}`): findUploadsByFingerprint would
  // need the whole of it, and the file ids of an earlier page load are not known here.
  const prefix = `tus::tus-${uppyId}-`;
  // The endpoint check keeps uploads to another gateway (or another tus path) out.
  const found = (await storedUploads()).filter((entry) => entry.urlStorageKey.startsWith(prefix) && entry.urlStorageKey.includes(`-${endpoint}::`));
  const checked = await Promise.all(
    found.map(async (entry): Promise<InterruptedUpload | null> => {
      const key = entry.urlStorageKey;
      // An owner that is a prefix of another ("al" / "al-x") shares the Uppy id prefix: compare the stored owner.
      if (!entry?.uploadUrl || (entry.metadata?.owner ?? '') !== owner) return null;
      const id = entry.uploadUrl.split('/').filter(Boolean).pop() ?? '';
      let res: Response;
      try {
        res = await fetch(`${apiBase}/api/uploads/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' } });
      } catch {
        return null; // offline: say nothing rather than something wrong
      }
      if (res.status === 404) {
        await urlStorage.removeUpload(key); // expired or removed on the server: nothing left to resume
        return null;
      }
      if (!res.ok) return null;
      const status = (await res.json()) as { offset?: number; length?: number; status?: string };
      if (status.status === 'done') {
        await urlStorage.removeUpload(key);
        return null;
      }
      return {
        fileName: entry.metadata?.filename ?? id,
        size: status.length ?? entry.size ?? 0,
        offset: status.offset ?? 0,
        uploadUrl: entry.uploadUrl,
        storageKey: key,
      };
    }),
  );
  return checked.filter((u): u is InterruptedUpload => u !== null);
}

/** Gives up on an interrupted upload: frees its space on the server (tus termination) and forgets it here. */
export async function forgetInterrupted(upload: InterruptedUpload): Promise<void> {
  await urlStorage.removeUpload(upload.storageKey).catch(() => undefined);
  await fetch(upload.uploadUrl, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0' } }).catch(() => undefined);
}
