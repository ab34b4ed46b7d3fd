import type { IncomingMessage } from 'node:http';

/** What a request may do: `upload`, `read`, `delete` own objects; `admin` anything of anyone. */
export type Scope = 'upload' | 'read' | 'delete' | 'admin';
export const SCOPES: readonly Scope[] = ['upload', 'read', 'delete', 'admin'];

/**
 * Who a request acts for, as its credential proves it. Set once per request by the
 * authentication middleware; every route and the tus edge read it, never a header.
 */
export interface Principal {
  /** `none`: open mode (auth.mode none) — nobody is proven, everything is allowed, as before auth existed. */
  /** `anonymous`: auth is on and the request carries no credential (public routes only; publicRead reads). */
  readonly via: 'none' | 'jwt' | 'apiKey' | 'anonymous';
  /** The owner the credential proves; null in open mode (the client's `owner` metadata is taken as is). */
  readonly owner: string | null;
  readonly scopes: ReadonlySet<Scope>;
}

/** The principal of open mode: any owner, every scope. */
export const OPEN_PRINCIPAL: Principal = Object.freeze({
  via: 'none',
  owner: null,
  scopes: new Set<Scope>(SCOPES),
});

/** A request without a credential while auth is on: it may reach only the routes that need none. */
export const ANONYMOUS_PRINCIPAL: Principal = Object.freeze({
  via: 'anonymous',
  owner: null,
  scopes: new Set<Scope>(),
});

// The tus edge hands Node's raw request to @tus/server, which knows nothing of Koa's ctx.state:
// the principal travels with the request object itself.
const byRequest = new WeakMap<IncomingMessage, Principal>();

export function setPrincipal(req: IncomingMessage, principal: Principal): void {
  byRequest.set(req, principal);
}

/** The request's principal; open mode's when no authentication middleware ran. */
export function principalOf(req: IncomingMessage): Principal {
  return byRequest.get(req) ?? OPEN_PRINCIPAL;
}

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has(scope) || principal.scopes.has('admin');
}
