import type { Credentials } from './credentials.ts';

/**
 * A plain `<a href download>` cannot send `Authorization`: with a credential, a click first asks
 * the gateway for a short-lived presigned GET (`POST /api/presign`, docs/api.md §4) — a
 * capability that needs no header — and follows that instead. Open mode keeps the plain link.
 */
export function authorizeDownload(link: HTMLAnchorElement, apiBase: string, key: string, credentials: Credentials): HTMLAnchorElement {
  if (!credentials.enabled) return link;
  link.addEventListener('click', (event) => {
    event.preventDefault();
    void credentials
      .fetch(`${apiBase}/api/presign`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key, method: 'GET', expiresIn: 300 }) })
      .then(async (res) => {
        if (!res.ok) throw new Error(`the server answered ${res.status}`);
        const { url } = (await res.json()) as { url: string };
        globalThis.location.assign(url);
      })
      .catch((err: Error) => {
        link.title = `Download failed: ${err.message}`;
      });
  });
  return link;
}
