import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import { creationOwner, mayOverwrite, maySeeUpload } from '../auth/policy.ts';
import { hasScope, principalOf } from '../auth/principal.ts';
import { errors } from '../errors.ts';
import { OPEN_SCOPES } from '../hooks/index.ts';
import type { HashingDataStore } from './hashing-datastore.ts';
import { encodeUploadMetadata, normalizeMetadata, objectKeyFor } from './metadata.ts';
import type { RecordStore } from './records.ts';
import type { UploadRecord } from './upload-record.ts';

/**
 * docs/api.md §7 owner rules at the tus edge. A creation's `owner` comes from the credential:
 * absent → the credential's own (written into the request's Upload-Metadata before @tus/server
 * reads it), another → 403 (admin: any). Mutates `metadata` to what will be kept.
 */
export function applyCreationOwner(req: IncomingMessage, metadata: Record<string, string>): void {
  const p = principalOf(req);
  const owner = creationOwner(p, metadata.owner);
  if (owner !== undefined && owner !== metadata.owner) {
    metadata.owner = owner;
    setRequestHeader(req, 'upload-metadata', encodeUploadMetadata(metadata));
  }
  // Replacing destroys what was there: it needs the "delete" scope on that key.
  if (metadata.overwrite === 'true' && !mayOverwrite(p, objectKeyFor(normalizeMetadata(metadata, 'x')))) {
    throw errors.accessDenied('overwrite=true needs a credential that may delete this key');
  }
}

/**
 * An upload belongs to the owner it was created for: to anyone else it does not exist (404,
 * as an unknown id — never a 403 that would confirm it). PATCH needs "upload"; reads need "upload" or "read".
 */
export async function checkUploadAccess(
  ctx: Context,
  deps: { records: RecordStore<UploadRecord>; datastore: HashingDataStore },
  id: string,
  method: string,
): Promise<void> {
  const p = principalOf(ctx.req);
  if (p.via === 'none') return;
  const rec = await deps.records.get(id);
  const owner = rec?.metadata.owner ?? (await deps.datastore.getLiveUpload(id).catch(() => undefined))?.metadata?.owner ?? undefined;
  if (owner === undefined || !maySeeUpload(p, owner)) throw errors.noSuchUpload();
  const scope = method === 'PATCH' || !hasScope(p, 'read') ? 'upload' : 'read';
  if (!hasScope(p, scope)) throw errors.accessDenied(`This credential lacks the "${scope}" scope`);
}

/**
 * Replaces a request header before @tus/server reads it: srvx's Request reads both
 * `req.headers` (get) and `req.rawHeaders` (iteration), so both are rewritten.
 */
function setRequestHeader(req: IncomingMessage, name: string, value: string) {
  req.headers[name] = value;
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) if (raw[i]!.toLowerCase() === name) raw.splice(i, 2);
  raw.push(name, value);
}

/**
 * The scopes of whoever is creating an upload, for the preCreate hook. @tus/server hands its hooks
 * a srvx Request, which keeps Node's own request at `runtime.node.req` (the principal is kept there).
 */
export function creatorScopes(req: Request): readonly string[] {
  const node = (req as { runtime?: { node?: { req?: IncomingMessage } } }).runtime?.node?.req;
  const p = node ? principalOf(node) : undefined;
  // Open mode: every request may upload, read and delete (what the hook saw before credentials existed).
  if (!p || p.via === 'none') return OPEN_SCOPES;
  return [...p.scopes];
}
