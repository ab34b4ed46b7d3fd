import type { ByteRange } from '../storage/store.ts';

// Pure HTTP logic for serving objects: Range (RFC 9110 §14) and conditional
// requests (RFC 9110 §13). No Koa, no I/O: the callers pass header values in.

export type RangeOutcome =
  | { kind: 'full' }
  | { kind: 'partial'; range: ByteRange }
  | { kind: 'unsatisfiable' };

const FULL: RangeOutcome = { kind: 'full' };
const UNSATISFIABLE: RangeOutcome = { kind: 'unsatisfiable' };

type SpecOutcome = ByteRange | 'whole' | 'unsatisfiable' | 'invalid';

// RFC 9110 §14.1.2: int-range = first-pos "-" [ last-pos ]; suffix-range = "-" suffix-length.
function resolveSpec(spec: string, size: number): SpecOutcome {
  const m = /^(\d*)-(\d*)$/.exec(spec);
  if (!m) return 'invalid';
  const [, first = '', last = ''] = m;
  if (first === '') {
    if (last === '') return 'invalid';
    const length = Number(last);
    // "a suffix-range is satisfiable if its suffix-length is non-zero"; "If the selected
    // representation is shorter than the specified suffix-length, the entire representation is used."
    if (length === 0) return 'unsatisfiable';
    if (size === 0) return 'whole'; // nothing to cut a range from: a plain 200 with the empty body
    return { start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Number(last);
  // "A byte-range-spec is invalid if the last-pos value is present and less than the first-pos."
  if (last !== '' && end < start) return 'invalid';
  // "An int-range is satisfiable if the first-pos is less than the current length."
  if (start >= size) return 'unsatisfiable';
  // "If the last-pos value is absent, or if the value is greater than or equal to the current
  // length of the representation data, the byte range is interpreted as the remainder."
  return { start, end: Math.min(end, size - 1) };
}

/**
 * Resolves a `Range` header against an object of `size` bytes.
 * - absent, another unit, or a malformed/invalid ranges-specifier → `full` ("A server MAY ignore the Range header field")
 * - one satisfiable range → `partial`
 * - several ranges → `full`: multipart/byteranges is not implemented, and RFC 9110 §14.2
 *   lets a server ignore the field; unless none of them is satisfiable → `unsatisfiable` (416)
 */
export function parseRange(header: string | undefined, size: number): RangeOutcome {
  if (!header) return FULL;
  // "Range unit names are case-insensitive" (§14.1); "bytes" is the only one we know.
  const m = /^\s*bytes\s*=(.*)$/i.exec(header);
  if (!m) return FULL;
  // §5.6.1: a recipient MUST accept empty list elements and ignores them.
  const specs = (m[1] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length === 0) return FULL;
  const outcomes = specs.map((s) => resolveSpec(s, size));
  if (outcomes.includes('invalid')) return FULL;
  if (outcomes.every((o) => o === 'unsatisfiable')) return UNSATISFIABLE;
  const only = outcomes[0];
  if (outcomes.length > 1 || typeof only !== 'object') return FULL;
  return { kind: 'partial', range: only };
}

/** The validators of the selected representation. */
export interface Validators {
  /** Quoted entity-tag, e.g. `"abc"` (a bare value is quoted by `normalizeEtag`). */
  etag: string;
  lastModified: Date;
}

export interface ConditionalHeaders {
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  ifUnmodifiedSince?: string;
}

/** `proceed`: answer normally; `not-modified`: 304; `failed`: 412. */
export type PreconditionOutcome = 'proceed' | 'not-modified' | 'failed';

/** Quotes a bare etag (some backends hand them out unquoted); keeps `"x"` and `W/"x"` as they are. */
export function normalizeEtag(etag: string): string {
  return /^(W\/)?".*"$/.test(etag) ? etag : `"${etag.replace(/"/g, '')}"`;
}

interface EntityTag {
  weak: boolean;
  opaque: string;
}

function parseEtag(value: string): EntityTag {
  const weak = value.startsWith('W/');
  return { weak, opaque: weak ? value.slice(2) : value };
}

/** `*`, or the list of entity-tags; unquoted members (sent by sloppy clients) are quoted, as normalizeEtag does. */
function parseEtagList(value: string): '*' | EntityTag[] {
  if (value.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  for (const m of value.matchAll(/\s*((?:W\/)?"[^"]*"|[^,\s]+)\s*(?:,|$)/g)) tags.push(parseEtag(normalizeEtag(m[1]!)));
  return tags;
}

// §8.8.3.2: "Weak comparison: two entity-tags are equivalent if their opaque-tags match
// character-by-character, regardless of either or both being tagged as weak."
const weakMatch = (a: EntityTag, b: EntityTag) => a.opaque === b.opaque;
// "Strong comparison: two entity-tags are equivalent if both are not weak and their opaque-tags match."
const strongMatch = (a: EntityTag, b: EntityTag) => !a.weak && !b.weak && a.opaque === b.opaque;

// §5.6.7 HTTP-date: IMF-fixdate, and the obsolete rfc850-date and asctime-date a recipient MUST accept.
const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const RFC850_DATE = /^[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT$/;
const ASCTIME_DATE = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

/** An HTTP-date in whole seconds, or undefined when the value is not one (the header is then ignored). */
export function httpDateSeconds(value: string | undefined): number | undefined {
  const text = value?.trim() ?? '';
  let ms = Number.NaN;
  if (IMF_FIXDATE.test(text) || RFC850_DATE.test(text)) ms = Date.parse(text);
  else if (ASCTIME_DATE.test(text)) ms = Date.parse(`${text} GMT`); // asctime carries no zone: it is GMT
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

/**
 * RFC 9110 §13.2.2, steps 1–4, for a GET or HEAD of an existing representation:
 * If-Match, else If-Unmodified-Since (false → 412); then If-None-Match, else
 * If-Modified-Since (false → 304).
 */
export function evaluatePreconditions(headers: ConditionalHeaders, validators: Validators): PreconditionOutcome {
  const current = parseEtag(normalizeEtag(validators.etag));
  const lastModified = seconds(validators.lastModified);
  if (headers.ifMatch) {
    // §13.1.1: "If the field value is "*", the condition is true if the origin server has a current representation."
    const list = parseEtagList(headers.ifMatch);
    if (list !== '*' && !list.some((t) => strongMatch(t, current))) return 'failed';
  } else {
    // §13.1.4: ignored when not a valid HTTP-date.
    const since = httpDateSeconds(headers.ifUnmodifiedSince);
    if (since !== undefined && lastModified > since) return 'failed';
  }
  if (headers.ifNoneMatch) {
    // §13.1.2: "A recipient MUST use the weak comparison function when comparing entity tags for If-None-Match."
    const list = parseEtagList(headers.ifNoneMatch);
    if (list === '*' || list.some((t) => weakMatch(t, current))) return 'not-modified';
  } else {
    // §13.1.3: "if the selected representation's last modification date is earlier or equal to the date provided"
    const since = httpDateSeconds(headers.ifModifiedSince);
    if (since !== undefined && lastModified <= since) return 'not-modified';
  }
  return 'proceed';
}

/**
 * RFC 9110 §13.1.5 If-Range: true when the Range may be applied. An entity-tag must match
 * with the strong comparison; a date must equal Last-Modified exactly. Absent → true.
 */
export function ifRangeAllows(ifRange: string | undefined, validators: Validators): boolean {
  if (!ifRange) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) {
    return strongMatch(parseEtag(value), parseEtag(normalizeEtag(validators.etag)));
  }
  const date = httpDateSeconds(value);
  return date !== undefined && date === seconds(validators.lastModified);
}
