/**
 * The widget's credential (docs/api.md §7): options `token` (a string) or `getToken()` (a
 * function returning a promise of one, called again after a 401). Every tus and API request
 * carries it as `Authorization: Bearer …`. Pure: no DOM, no Uppy — the unit tests run it in Node.
 */

export type GetToken = () => string | Promise<string>;

export interface Credentials {
  /** Whether requests carry a credential at all (open mode: none). */
  readonly enabled: boolean;
  /** `{ Authorization }` for the current token, or `{}` without one. Asks getToken() only when no token is cached. */
  headers(): Promise<Record<string, string>>;
  /** The server said 401: the cached token is dropped, the next headers() asks getToken() again. False for a fixed token (nothing new to ask for). */
  refresh(): boolean;
  /** fetch() with the credential; after a 401 a refreshed token is tried once more. */
  fetch(url: string, init?: RequestInit): Promise<Response>;
}

export function createCredentials(token: string | null, getToken: GetToken | null): Credentials {
  let cached: Promise<string> | null = token ? Promise.resolve(token) : null;
  const current = (): Promise<string> | null => {
    if (cached) return cached;
    if (!getToken) return null;
    cached = Promise.resolve()
      .then(getToken)
      .then((t) => {
        if (typeof t !== 'string' || t === '') throw new Error('getToken() must resolve to a non-empty string');
        return t;
      });
    // A failed call is not kept: the next request asks again.
    cached.catch(() => (cached = null));
    return cached;
  };
  const creds: Credentials = {
    enabled: Boolean(token || getToken),
    async headers(): Promise<Record<string, string>> {
      const t = current();
      return t ? { Authorization: `Bearer ${await t}` } : {};
    },
    refresh() {
      if (!getToken) return false;
      cached = null;
      return true;
    },
    async fetch(url, init = {}) {
      const send = async () => fetch(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), ...(await creds.headers()) } });
      const res = await send();
      return res.status === 401 && creds.refresh() ? send() : res;
    },
  };
  return creds;
}
