/**
 * The widget's public options: their types, their defaults (merged once, here),
 * and the checks that make a bad option fail at once with a message naming it.
 * Pure: no DOM, no Uppy — the unit tests run it in Node.
 */

/** One finished upload, as the widget shows it and `onComplete` receives it. */
export interface UploadResult {
  fileName: string;
  /** The object key, decoded (`models/alice/llama.safetensors`). */
  key: string;
  size: number;
  /** `{apiBase}/api/objects/{key}`: streams the object (works for every Store backend). */
  downloadUrl: string;
  /** Hex sha256 of the stored object as the gateway computed it; absent if it could not be read. */
  sha256?: string;
  /** The tus upload URL (`…/files/{id}`). */
  uploadUrl: string;
}

/** An upload that gave up (after its retries), with a message meant for people. */
export interface UploadFailure {
  fileName: string;
  /** HTTP status of the refusing response; 0 for a network failure. */
  status: number;
  message: string;
}

export interface UploaderOptions {
  /** Base URL of the gateway (`https://uploads.example.com`); `/api/...` and `/widget/...` hang off it. */
  apiBase: string;
  /** tus endpoint. Default: the one the gateway advertises at `GET /api/config` (normally `{apiBase}/files/`). */
  endpoint?: string;
  /** Owner segment of the object key (`models/{owner}/{filename}`). Empty: the server's `anonymous`. */
  owner?: string;
  /** Uppy syntax: extensions (`.safetensors`) or MIME patterns (`application/*`). null: anything. */
  allowedFileTypes?: readonly string[] | null;
  /** Bytes. null: the server's `Tus-Max-Size`; a larger value is capped to it. */
  maxFileSize?: number | null;
  /** Bytes per PATCH. null: derived from the server's S3 part size; with the s3 datastore it must be a multiple of it. */
  chunkSize?: number | null;
  /** Milliseconds between retries; progress resets the count. The default rides out a network gone for about 3 minutes. */
  retryDelays?: readonly number[];
  /**
   * Uppy instance id. Must be the same on every page load for resume-after-reload to
   * work: tus fingerprints files by it. Default: `upload-widget:{owner}`.
   */
  id?: string;
  /** Start uploading as soon as a file is added. */
  autoProceed?: boolean;
  /**
   * Hash each whole file (sha256, in a Web Worker, shown as "verifying") before it is
   * uploaded and declare it: the gateway stores the object only if what arrived matches.
   * Every PATCH carries an `Upload-Checksum` either way.
   */
  verify?: boolean;
  /** After a batch (one click on Upload) with its finished uploads; not called when none finished. */
  onComplete?: (results: UploadResult[]) => void;
  /** For each upload that failed for good (retries spent, or refused by the server). */
  onError?: (failure: UploadFailure) => void;
}

export interface WidgetOptions extends UploaderOptions {
  /** Height of the drop area (CSS length or px). */
  height?: number | string;
  theme?: 'auto' | 'light' | 'dark';
  /** URL of the widget's CSS, added to the page once. Default `{apiBase}/widget/widget.css`; false: the page brings its own. */
  stylesheet?: string | false;
}

// Sum ≈ 3 min. tus-js-client starts the count again once an attempt makes progress,
// so this bounds one outage, not the whole upload.
export const DEFAULT_RETRY_DELAYS: readonly number[] = [0, 1000, 3000, 5000, 10_000, 10_000, 15_000, 20_000, 30_000, 30_000, 30_000, 30_000];

/** Every PATCH carries about this much, rounded to whole S3 parts (fewer round trips, yet under common proxy body limits). */
export const TARGET_CHUNK_BYTES = 32 * 2 ** 20;

const defaultOptions = {
  endpoint: null,
  owner: '',
  allowedFileTypes: null,
  maxFileSize: null,
  chunkSize: null,
  retryDelays: DEFAULT_RETRY_DELAYS,
  id: null,
  autoProceed: false,
  verify: false,
  onComplete: null,
  onError: null,
  height: 360,
  theme: 'auto',
  stylesheet: null,
} as const;

type Nullable<T> = { [K in keyof T]-?: Exclude<T[K], undefined> | null };
/** Options after defaults: every field present, URLs absolute, `id` decided. */
export type ResolvedOptions = Required<Pick<WidgetOptions, 'apiBase' | 'owner' | 'retryDelays' | 'autoProceed' | 'verify' | 'height' | 'theme'>> &
  Nullable<Pick<WidgetOptions, 'endpoint' | 'allowedFileTypes' | 'maxFileSize' | 'chunkSize' | 'onComplete' | 'onError' | 'stylesheet'>> & {
    id: string;
  };

/** A bad option: the message names it and says what is wrong. */
export class OptionsError extends TypeError {
  override name = 'UploadWidgetOptionsError';
}

const known = new Set(Object.keys(defaultOptions).concat('apiBase'));
export const fail = (message: string): never => {
  throw new OptionsError(`UploadWidget: ${message}`);
};

export function absoluteUrl(name: string, value: unknown, base: string | undefined): string {
  if (typeof value !== 'string' || value.trim() === '') return fail(`${name} must be a URL string, got ${JSON.stringify(value)}`);
  let url: URL;
  try {
    url = new URL(value, base);
  } catch {
    return fail(`${name} is not a valid URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`${name} must be an http(s) URL, got ${url.protocol}`);
  return url.href;
}

const isPositiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/** The key rules of docs/api.md §2 for `owner`, so a bad owner fails here rather than as a 400 after the user picked a file. */
function ownerProblem(owner: string): string | null {
  if (owner === '') return null;
  if (owner === '.' || owner === '..') return 'must not be "." or ".."';
  if (/[/\\\u0000-\u001f\u007f]/.test(owner)) return 'must be a single path segment (no "/", "\\" or control characters)';
  if (new TextEncoder().encode(owner).length > 64) return 'must be at most 64 bytes';
  return null;
}

/**
 * Merges `input` over the defaults and checks every field; throws OptionsError on the
 * first bad one. `base` resolves relative URLs (the page's address in a browser).
 */
export function resolveOptions(input: WidgetOptions, base: string | undefined = globalThis.location?.href): ResolvedOptions {
  if (typeof input !== 'object' || input === null) return fail('options must be an object with at least { apiBase }');
  for (const name of Object.keys(input)) if (!known.has(name)) fail(`unknown option "${name}"`);
  // An explicit `undefined` means "the default", as if the key were absent.
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as WidgetOptions;
  const o = { ...defaultOptions, ...given };

  const apiBase = absoluteUrl('apiBase', o.apiBase, base).replace(/\/+$/, '');
  const endpoint = o.endpoint == null ? null : absoluteUrl('endpoint', o.endpoint, base);
  if (typeof o.owner !== 'string') fail(`owner must be a string, got ${typeof o.owner}`);
  const ownerIssue = ownerProblem(o.owner);
  if (ownerIssue) fail(`owner ${JSON.stringify(o.owner)} ${ownerIssue}`);

  let allowedFileTypes: string[] | null = null;
  if (o.allowedFileTypes != null) {
    if (!Array.isArray(o.allowedFileTypes) || o.allowedFileTypes.length === 0) fail('allowedFileTypes must be a non-empty array of strings, or null');
    allowedFileTypes = [...o.allowedFileTypes];
    for (const t of allowedFileTypes) {
      if (typeof t !== 'string' || !(t.startsWith('.') || /^[\w.+-]+\/[\w.+*-]+$/.test(t))) {
        fail(`allowedFileTypes: ${JSON.stringify(t)} is neither an extension (".bin") nor a MIME type ("application/*")`);
      }
    }
  }
  if (o.maxFileSize != null && !isPositiveInt(o.maxFileSize)) fail(`maxFileSize must be a positive integer (bytes), got ${String(o.maxFileSize)}`);
  if (o.chunkSize != null && !isPositiveInt(o.chunkSize)) fail(`chunkSize must be a positive integer (bytes), got ${String(o.chunkSize)}`);
  if (!Array.isArray(o.retryDelays) || o.retryDelays.some((d) => typeof d !== 'number' || !Number.isFinite(d) || d < 0)) {
    fail('retryDelays must be an array of non-negative numbers (milliseconds)');
  }
  if (o.id != null && (typeof o.id !== 'string' || o.id === '')) fail('id must be a non-empty string');
  if (typeof o.autoProceed !== 'boolean') fail('autoProceed must be a boolean');
  if (typeof o.verify !== 'boolean') fail('verify must be a boolean');
  for (const name of ['onComplete', 'onError'] as const) {
    if (o[name] != null && typeof o[name] !== 'function') fail(`${name} must be a function`);
  }
  if (!(typeof o.height === 'number' ? o.height > 0 : typeof o.height === 'string' && o.height !== '')) fail('height must be a positive number or a CSS length');
  if (!['auto', 'light', 'dark'].includes(o.theme)) fail(`theme must be "auto", "light" or "dark", got ${JSON.stringify(o.theme)}`);
  const stylesheet = o.stylesheet === false ? false : o.stylesheet == null ? null : absoluteUrl('stylesheet', o.stylesheet, base);

  return {
    apiBase,
    endpoint,
    owner: o.owner,
    allowedFileTypes,
    maxFileSize: o.maxFileSize ?? null,
    chunkSize: o.chunkSize ?? null,
    retryDelays: [...o.retryDelays],
    id: o.id ?? `upload-widget:${o.owner || 'anonymous'}`,
    autoProceed: o.autoProceed,
    verify: o.verify,
    onComplete: o.onComplete ?? null,
    onError: o.onError ?? null,
    height: o.height,
    theme: o.theme,
    stylesheet,
  };
}
