import { statfs } from 'node:fs/promises';
import type { Locker } from '@tus/utils';
import type { Config } from '../config.ts';
import { errors } from '../errors.ts';
import type { Store } from '../storage/store.ts';
import type { RecordStore } from './records.ts';
import type { UploadRecord } from './upload-record.ts';

export interface QuotaDeps {
  config: Config;
  store: Store;
  records: RecordStore<UploadRecord>;
  /** Serializes check-and-reserve per owner: in process a QueueLocker, across gateways the Redis one. */
  locker: Locker;
}

/** Bytes stored under `prefix` (every page of the list). */
async function storedBytes(store: Store, prefix: string): Promise<number> {
  let total = 0;
  let cursor: string | undefined;
  do {
    const page = await store.list({ prefix, limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const o of page.objects) total += o.size ?? 0;
    cursor = page.nextCursor;
  } while (cursor);
  return total;
}

/** The owner's uploads in flight (other than `except`) and the Upload-Length they reserve. */
async function inFlight(records: RecordStore<UploadRecord>, owner: string, except: string) {
  let uploads = 0;
  let bytes = 0;
  for (const id of await records.list()) {
    if (id === except) continue;
    const rec = await records.get(id).catch(() => undefined);
    if (rec?.status !== 'uploading' || rec.metadata.owner !== owner) continue;
    uploads++;
    bytes += rec.size ?? 0;
  }
  return { uploads, bytes };
}

/**
 * limits.ownerBytes / ownerUploads (403 QuotaExceeded) and free disk minus limits.diskReserve
 * (507 InsufficientStorage). `create` (writing the upload's record, which is what reserves its
 * bytes and its place) runs inside the owner's lock, so two racing creations cannot both squeeze under a limit.
 */
export function createQuotas({ config, store, records, locker }: QuotaDeps) {
  const { ownerBytes, ownerUploads, diskReserve } = config.limits;
  // Where the bytes of an upload land on this machine's disk.
  const dirs = [
    ...(config.tus.datastore === 'file' ? [config.tus.file.directory] : []),
    ...(store.capabilities.localDirectory ? [store.capabilities.localDirectory] : []),
  ];

  // statfs at most once a second per directory: what was admitted since is counted off the
  // free space it reported, so a burst of creations cannot pass the reserve on an old reading.
  const readings = new Map<string, { at: number; free: number; admitted: number }>();
  async function freeSpace(dir: string): Promise<{ free: number; admitted: number } | undefined> {
    const last = readings.get(dir);
    if (last && Date.now() - last.at < 1000) return last;
    const fs = await statfs(dir).catch(() => undefined);
    if (!fs) return undefined;
    const reading = { at: Date.now(), free: fs.bavail * fs.bsize, admitted: 0 };
    readings.set(dir, reading);
    return reading;
  }

  async function checkDisk(size: number) {
    // Both asked at once: one wait, not two, per creation.
    const all = await Promise.all(dirs.map(freeSpace));
    for (const [i, dir] of dirs.entries()) {
      const reading = all[i];
      if (!reading) continue;
      const free = reading.free - reading.admitted;
      if (free - diskReserve < size) {
        throw errors.insufficientStorage(`Not enough disk: ${size} bytes asked, ${Math.max(0, free - diskReserve)} free above the reserve (limits.diskReserve ${diskReserve})`);
      }
    }
    for (const reading of all) if (reading) reading.admitted += size;
  }

  return async function admitWithin(uploadId: string, owner: string, size: number | undefined, create: () => Promise<void>): Promise<void> {
    await checkDisk(size ?? 0);
    if (!ownerBytes && !ownerUploads) return create();
    const lock = locker.newLock(`quota:${owner}`);
    await lock.lock(new AbortController().signal, async () => undefined);
    try {
      const flying = await inFlight(records, owner, uploadId);
      if (ownerUploads && flying.uploads + 1 > ownerUploads) {
        throw errors.quotaExceeded(`limits.ownerUploads: ${owner} has ${flying.uploads} uploads in flight; at most ${ownerUploads}`);
      }
      if (ownerBytes) {
        const used = (await storedBytes(store, `models/${owner}/`)) + flying.bytes;
        if (used + (size ?? 0) > ownerBytes) {
          throw errors.quotaExceeded(`limits.ownerBytes: ${owner} uses ${used} bytes (stored + in flight); ${size ?? 0} more would exceed ${ownerBytes}`);
        }
      }
      await create();
    } finally {
      await lock.unlock();
    }
  };
}
