/** A few DOM helpers. Text always goes in as text nodes: file names and keys come from users. */

type Attrs = Record<string, string | boolean | undefined>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) if (child) el.append(child);
  return el;
}

export function resolveElement(target: Element | string, what: string): HTMLElement {
  const el = typeof target === 'string' ? document.querySelector(target) : target;
  if (!(el instanceof HTMLElement)) {
    throw new TypeError(`UploadWidget: ${what} needs an element or a selector that matches one, got ${typeof target === 'string' ? JSON.stringify(target) : String(target)}`);
  }
  return el;
}

/** Adds the widget's stylesheet once per document (a page that already links it keeps its own). */
export function ensureStylesheet(href: string): void {
  const present = [...document.querySelectorAll<HTMLLinkElement>('link[rel="stylesheet"]')].some((l) => l.href === href);
  if (!present) document.head.append(h('link', { rel: 'stylesheet', href, 'data-upload-widget': true }));
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function timeElement(date: Date): HTMLTimeElement {
  return h('time', { datetime: date.toISOString() }, Number.isNaN(date.getTime()) ? '' : dateFormat.format(date));
}
