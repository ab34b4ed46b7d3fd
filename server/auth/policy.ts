import { errors } from '../errors.ts';
import { hasScope, type Principal, type Scope } from './principal.ts';

/**
 * The owner rules as pure functions of (principal, what, key). Open mode (`via: none`) and
 * `admin` may do anything; everyone else acts on `models/{their owner}/` only.
 */
export type ObjectAction = 'read' | 'upload' | 'delete';

const unrestricted = (p: Principal) => p.via === 'none' || p.scopes.has('admin');

/** `models/{owner}/…` → owner; any other key belongs to nobody (admin only). */
export function ownerOfKey(key: string): string | null {
  const m = /^models\/([^/]+)\/./.exec(key);
  return m ? m[1]! : null;
}

export const ownPrefix = (owner: string) => `models/${owner}/`;

/** May `p` do `action` on the object `key`? `publicRead` opens reads to anyone. */
export function may(p: Principal, action: ObjectAction, key: string, opts: { publicRead?: boolean } = {}): boolean {
  if (action === 'read' && opts.publicRead) return true;
  if (unrestricted(p)) return true;
  if (!hasScope(p, action as Scope) || p.owner === null) return false;
  return ownerOfKey(key) === p.owner;
}

/** Throws 403 AccessDenied unless `may`. The message names the key and the scope, never the credential. */
export function assertMay(p: Principal, action: ObjectAction, key: string, opts: { publicRead?: boolean } = {}): void {
  if (may(p, action, key, opts)) return;
  if (!hasScope(p, action)) throw errors.accessDenied(`This credential lacks the "${action}" scope`);
  throw errors.accessDenied(`${key} is not under ${p.owner === null ? 'an owner of this credential' : ownPrefix(p.owner)}`);
}

/**
 * The prefix a list really uses: without one, the caller's own `models/{owner}/`;
 * one outside it → 403.
 */
export function listPrefix(p: Principal, prefix: string, opts: { publicRead?: boolean } = {}): string {
  if (opts.publicRead || unrestricted(p)) return prefix;
  if (!hasScope(p, 'read') || p.owner === null) throw errors.accessDenied('This credential lacks the "read" scope');
  const own = ownPrefix(p.owner);
  if (prefix === '') return own;
  if (!prefix.startsWith(own)) throw errors.accessDenied(`prefix ${prefix} is outside ${own}`);
  return prefix;
}

/**
 * The owner an upload is created for: the metadata's `owner` if it is the credential's (or the
 * credential is admin or open mode), the credential's own when absent; another → 403.
 * Returns undefined in open mode when absent (the gateway's default, `anonymous`, applies).
 */
export function creationOwner(p: Principal, requested: string | undefined): string | undefined {
  if (p.via === 'none') return requested || undefined;
  if (!hasScope(p, 'upload')) throw errors.accessDenied('This credential lacks the "upload" scope');
  if (!requested) return p.owner ?? undefined;
  if (requested !== p.owner && !p.scopes.has('admin')) throw errors.accessDenied(`This credential may not upload for owner ${requested}`);
  return requested;
}

/** May `p` see the upload created for `owner`? Anyone else is told it does not exist (404), never that it does. */
export function maySeeUpload(p: Principal, owner: string | undefined): boolean {
  return unrestricted(p) || (p.owner !== null && owner === p.owner);
}

/** `/metrics` when auth is on: admin only. */
export const mayReadMetrics = (p: Principal) => p.via === 'none' || p.scopes.has('admin');

/** Replacing an existing object needs the "delete" scope on its key (it destroys what was there). */
export const mayOverwrite = (p: Principal, key: string) => may(p, 'delete', key);
