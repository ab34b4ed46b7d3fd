import type { Context } from 'koa';
import { errors } from '../errors.ts';
import { encodeKeyPath } from '../storage/keys.ts';
import type { GatewayDataStore } from './datastore.ts';
import type { Finalizer } from './finalize.ts';
import { encodeUploadMetadata } from './metadata.ts';
import type { RecordStore } from './records.ts';
import type { UploadRecord } from './upload-record.ts';

/**
 * The answers about finished uploads, from the gateway's record: once an upload is an
 * object, @tus/server has forgotten it (the datastore's data moved into the Store), so these
 * requests never reach it.
 */
export interface FinishedDeps {
  datastore: GatewayDataStore;
  finalizer: Finalizer;
  records: RecordStore<UploadRecord>;
}

/** `GET /files/{id}`: "of a finished upload redirects (302) to /api/objects/{key}; of an unfinished one, 404." */
export async function redirectToObject(ctx: Context, deps: FinishedDeps, id: string | undefined): Promise<void> {
  const rec = id ? await deps.records.get(id) : undefined;
  if (!rec || rec.status !== 'done' || !rec.key) throw errors.noSuchUpload('No finished upload at this URL');
  ctx.status = 302;
  ctx.redirect(`/api/objects/${encodeKeyPath(rec.key)}`);
}

/**
 * The record of `id` if the upload is finished (finalizing it first when its last
 * byte is in but finalization has not run — e.g. the process died in between).
 */
export async function finishedUpload(deps: FinishedDeps, id: string, method: string): Promise<UploadRecord | undefined> {
  const rec = await deps.records.get(id);
  if (rec?.status === 'done') return rec;
  // Also for DELETE: terminating an upload that is being finalized waits for the object, then forgets the upload.
  if (deps.finalizer.isFinalizing(id)) return deps.finalizer.finalize(id);
  if (method === 'DELETE') return undefined;
  if (method !== 'HEAD' && rec?.status !== 'finalizing') return undefined;
  const live = await deps.datastore.getLiveUpload(id).catch(() => undefined);
  if (live && live.size !== undefined && live.offset === live.size) return deps.finalizer.finalize(id);
  return undefined;
}

/** HEAD, PATCH or DELETE of a finished upload, answered from its record. */
export function answerFinished(ctx: Context, deps: FinishedDeps, rec: UploadRecord, method: string, hasBody: boolean) {
  const size = String(rec.size ?? 0);
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Object-Key', encodeKeyPath(rec.key!));
  if (method === 'DELETE') {
    // Terminating a finished upload forgets the upload, never the object it became.
    ctx.status = 204;
    return deps.records.delete(rec.id);
  }
  if (method === 'PATCH') {
    if (hasBody || ctx.get('Upload-Offset') !== size) {
      ctx.req.resume(); // drain what the client sends; nothing of it is stored
      throw errors.conflict('This upload is complete; it takes no more bytes', { 'Upload-Offset': size });
    }
  }
  ctx.set('Upload-Offset', size);
  ctx.set('Upload-Length', size);
  const meta = encodeUploadMetadata(rec.metadata);
  if (meta) ctx.set('Upload-Metadata', meta);
  // (No ctx.body here: Koa turns a null body into a 204, and HEAD must be 200.)
  ctx.status = method === 'HEAD' ? 200 : 204;
}
