import type { AppDeps } from '../http/deps.ts';
import { errors } from '../errors.ts';
import { objectExists } from '../tus/admission.ts';

/**
 * docs/api.md §7 for a presigned PUT, checked when it is signed and again when a localfs
 * `/storage` URL is used: "A key is reserved by the upload in flight that targets it: a second
 * creation or a presigned PUT for it → 409", and with `storage.overwrite: deny` an existing
 * object is replaced only when overwrite was asked for (the route has checked the credential).
 */
export async function checkPresignedPut(deps: Pick<AppDeps, 'config' | 'store' | 'tus'>, key: string, overwrite: boolean): Promise<void> {
  if (await deps.tus.reservedBy?.(key)) throw errors.objectExists(key, 'an upload in flight targets this key');
  if (deps.config.storage.overwrite === 'deny' && !overwrite && (await objectExists(deps.store, key))) {
    throw errors.objectExists(key, 'an object exists at this key (send "overwrite": true, with a credential that may delete it, to replace it)');
  }
}
