import { createCredentials, type Credentials, type GetToken } from './credentials.ts';
import { authorizeDownload } from './download.ts';
import { h, resolveElement, timeElement } from './dom.ts';
import { encodeKey } from './keys.ts';
import { formatBytes } from './messages.ts';
import { absoluteUrl, fail } from './options.ts';

export interface ModelListOptions {
  /** Base URL of the gateway, as for mount(). */
  apiBase: string;
  /** Only keys under this prefix. */
  prefix?: string;
  /** Objects per `GET /api/objects` page (1..1000). */
  pageSize?: number;
  /** The credential, as for mount() (docs/api.md §7). */
  token?: string;
  getToken?: GetToken;
}

export interface MountedModelList {
  /** Reloads from the first page (e.g. after an upload finished). */
  refresh(): Promise<void>;
  unmount(): void;
}

const defaults = { prefix: 'models/', pageSize: 50 } as const;

interface ObjectInfo {
  key: string;
  size: number;
  lastModified: string;
  metadata?: Record<string, string>;
}

/** A table of the stored objects under `prefix` with size, date and a download link; pages with "Show more". */
export function mountModelList(target: Element | string, options: ModelListOptions): MountedModelList {
  const { apiBase: base, token, getToken, ...rest } = options ?? fail('mountModelList() needs options with at least { apiBase }');
  if (token != null && (typeof token !== 'string' || token === '')) fail('token must be a non-empty string');
  if (getToken != null && typeof getToken !== 'function') fail('getToken must be a function');
  const credentials = createCredentials(token ?? null, getToken ?? null);
  const o = { ...defaults, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
  const apiBase = absoluteUrl('apiBase', base, globalThis.location?.href).replace(/\/+$/, '');
  if (typeof o.prefix !== 'string') fail('prefix must be a string');
  if (!Number.isInteger(o.pageSize) || o.pageSize < 1 || o.pageSize > 1000) fail(`pageSize must be an integer in 1..1000, got ${String(o.pageSize)}`);
  const host = resolveElement(target, 'mountModelList()');

  const rows = h('tbody');
  const status = h('p', { class: 'upw-meta', role: 'status' });
  const more = h('button', { type: 'button', class: 'upw-button', hidden: true }, 'Show more');
  const reload = h('button', { type: 'button', class: 'upw-button' }, 'Refresh');
  const table = h(
    'table',
    { class: 'upw-table' },
    h('caption', { class: 'upw-sr' }, `Stored objects under ${o.prefix}`),
    h('thead', {}, h('tr', {}, ...['Model', 'Size', 'Uploaded'].map((t) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col' }, h('span', { class: 'upw-sr' }, 'Download')))),
    rows,
  );
  const root = h('div', { class: 'upw upw-models' }, h('div', { class: 'upw-bar' }, status, reload), table, more);
  host.replaceChildren(root);

  let cursor: string | undefined;
  let count = 0;
  let generation = 0; // a refresh while a page loads makes that page's answer obsolete

  async function load(reset: boolean): Promise<void> {
    const mine = reset ? ++generation : generation;
    if (reset) cursor = undefined;
    const query = new URLSearchParams({ prefix: o.prefix, limit: String(o.pageSize) });
    if (cursor) query.set('cursor', cursor);
    status.textContent = 'Loading…';
    try {
      const res = await credentials.fetch(`${apiBase}/api/objects?${query}`, { headers: { Accept: 'application/json' } });
      if (!res.ok) throw new Error(`the server answered ${res.status}`);
      const page = (await res.json()) as { objects: ObjectInfo[]; nextCursor?: string };
      if (mine !== generation) return;
      if (reset) {
        rows.replaceChildren();
        count = 0;
      }
      rows.append(...page.objects.map((obj) => row(apiBase, o.prefix, obj, credentials)));
      count += page.objects.length;
      cursor = page.nextCursor;
      more.hidden = !cursor;
      table.hidden = count === 0;
      status.textContent = count === 0 ? 'No models stored yet.' : `${count}${cursor ? '+' : ''} ${count === 1 ? 'model' : 'models'}`;
    } catch (err) {
      if (mine === generation) status.textContent = `Could not load the list: ${(err as Error).message}.`;
    }
  }

  more.addEventListener('click', () => void load(false));
  reload.addEventListener('click', () => void load(true));
  void load(true);

  return {
    refresh: () => load(true),
    unmount: () => root.remove(),
  };
}

function row(apiBase: string, prefix: string, obj: ObjectInfo, credentials: Credentials): HTMLTableRowElement {
  // models/{owner}/{filename}: the file name leads, the owner goes below it.
  const rel = obj.key.startsWith(prefix) ? obj.key.slice(prefix.length) : obj.key;
  const cut = rel.lastIndexOf('/');
  const name = rel.slice(cut + 1);
  const owner = cut > 0 ? rel.slice(0, cut) : '';
  return h(
    'tr',
    { 'data-key': obj.key },
    h('td', { 'data-label': 'Model' }, h('span', { class: 'upw-name' }, name), owner && h('span', { class: 'upw-meta' }, owner)),
    h('td', { 'data-label': 'Size', class: 'upw-num' }, formatBytes(obj.size)),
    h('td', { 'data-label': 'Uploaded' }, timeElement(new Date(obj.lastModified))),
    h('td', {}, authorizeDownload(h('a', { class: 'upw-button', href: `${apiBase}/api/objects/${encodeKey(obj.key)}`, download: true }, 'Download', h('span', { class: 'upw-sr' }, ` ${name}`)), apiBase, obj.key, credentials)),
  );
}
