import type { KeyReservations } from '../auth/reservations.ts';
import type { Config } from '../config.ts';
import { errors, isGatewayError } from '../errors.ts';
import type { Store } from '../storage/store.ts';
import { objectKeyFor } from './metadata.ts';
import type { RecordStore } from './records.ts';
import type { UploadRecord } from './upload-record.ts';

export interface AdmissionDeps {
  config: Config;
  store: Store;
  records: RecordStore<UploadRecord>;
  reservations: KeyReservations;
}

/** Whether `key` names an object now. */
export async function objectExists(store: Store, key: string): Promise<boolean> {
  try {
    await store.stat(key);
    return true;
  } catch (err) {
    if (isGatewayError(err) && err.code === 'NoSuchKey') return false;
    throw err;
  }
}

/**
 * What a creation must pass before anything is created: the key is not reserved by another
 * upload in flight, and (storage.overwrite deny) no object is there unless `overwrite` was asked
 * for — the edge has already checked that the credential may delete that key.
 */
export function createAdmission({ config, store, records, reservations }: AdmissionDeps) {
  // A holder is live while its record says so: finished, terminated or swept uploads hold nothing.
  const isLive = async (id: string) => {
    const rec = await records.get(id);
    return rec?.status === 'uploading' || rec?.status === 'finalizing';
  };
  return {
    /** Called after the upload's record is written (so that a holder always has one). Throws 409 ObjectExists. */
    async admit(uploadId: string, metadata: Record<string, string>): Promise<void> {
      const key = objectKeyFor(metadata);
      const holder = await reservations.take(key, uploadId, config.tus.expiration, isLive);
      if (holder) throw errors.objectExists(key, 'an upload in flight already targets this key');
      try {
        if (config.storage.overwrite === 'deny' && metadata.overwrite !== 'true' && (await objectExists(store, key))) {
          throw errors.objectExists(key, 'an object exists at this key (send overwrite=true, with a credential that may delete it, to replace it)');
        }
      } catch (err) {
        await reservations.release(key, uploadId);
        throw err;
      }
    },
    release: (key: string, uploadId: string) => reservations.release(key, uploadId),
    /** The upload in flight that reserves `key`, if any. */
    reservedBy: (key: string) => reservations.holder(key, isLive),
  };
}
