/**
 * Uploads this widget started on an earlier page load and never finished.
 *
 * tus-js-client keeps each upload's URL in localStorage under `tus::{fingerprint}::{n}`,
 * and @uppy/tus makes the fingerprint `tus-{file.id}-{endpoint}` with a file id that
 * begins with the Uppy id. Reading those entries back lets the widget say "add
 * model.bin again to continue (12 MiB of 40 MiB are on the server)" after a reload.
 * That is what @uppy/golden-retriever's "ghost files" would show, without its copy of
 * every file under 10 MiB into IndexedDB and without restarting uploads on its own.
 */

import type { Credentials } from './credentials.ts';

export interface InterruptedUpload {
  fileName: string;
  size: number;
  /** Bytes the server holds, from `GET /api/uploads/{id}` — never HEAD, which takes the upload's lock. */
  offset: number;
  uploadUrl: string;
  storageKey: string;
  credentials: Credentials;
}

interface StoredUpload {
  size?: number;
  metadata?: Record<string, string>;
  uploadUrl?: string | null;
}

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // sandboxed iframes throw on access
  }
}

export async function findInterrupted(apiBase: string, uppyId: string, endpoint: string, owner: string, credentials: Credentials): Promise<InterruptedUpload[]> {
  const store = storage();
  if (!store) return [];
  const prefix = `tus::tus-${uppyId}-`;
  const found: Array<{ key: string; entry: StoredUpload }> = [];
  for (let i = 0; i < store.length; i++) {
    const key = store.key(i);
    // The endpoint check keeps uploads to another gateway (or another tus path) out.
    if (!key?.startsWith(prefix) || !key.includes(`-${endpoint}::`)) continue;
    try {
      found.push({ key, entry: JSON.parse(store.getItem(key) ?? 'null') as StoredUpload });
    } catch {
      // not ours to judge: tus-js-client ignores malformed entries too
    }
  }
  const checked = await Promise.all(
    found.map(async ({ key, entry }): Promise<InterruptedUpload | null> => {
      // An owner that is a prefix of another ("al" / "al-x") shares the Uppy id prefix: compare the stored owner.
      if (!entry?.uploadUrl || (entry.metadata?.owner ?? '') !== owner) return null;
      const id = entry.uploadUrl.split('/').filter(Boolean).pop() ?? '';
      let res: Response;
      try {
        res = await credentials.fetch(`${apiBase}/api/uploads/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' } });
      } catch {
        return null; // offline: say nothing rather than something wrong
      }
      if (res.status === 404) {
        store.removeItem(key); // expired or removed on the server: nothing left to resume
        return null;
      }
      if (!res.ok) return null;
      const status = (await res.json()) as { offset?: number; length?: number; status?: string };
      if (status.status === 'done') {
        store.removeItem(key);
        return null;
      }
      return {
        fileName: entry.metadata?.filename ?? id,
        size: status.length ?? entry.size ?? 0,
        offset: status.offset ?? 0,
        uploadUrl: entry.uploadUrl,
        storageKey: key,
        credentials,
      };
    }),
  );
  return checked.filter((u): u is InterruptedUpload => u !== null);
}

/** Gives up on an interrupted upload: frees its space on the server (tus termination) and forgets it here. */
export async function forgetInterrupted(upload: InterruptedUpload): Promise<void> {
  storage()?.removeItem(upload.storageKey);
  await upload.credentials.fetch(upload.uploadUrl, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0' } }).catch(() => undefined);
}
