import { lookup as mimeLookup } from 'mime-types';
import { Metadata } from '@tus/utils';
import { errors } from '../errors.ts';
import { INVISIBLE } from '../storage/keys.ts';

// docs/api.md §2: "`owner` and `filename` are single path segments: no `/`, `\`, NUL or
// control characters, not `.` or `..`, `filename` at most 200 bytes and `owner` at most 64."
// eslint-disable-next-line no-control-regex
const BAD_SEGMENT_CHARS = /[/\\\u0000-\u001f\u007f]/;
const LIMITS = { filename: 200, owner: 64 } as const;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const META_KEY = /^[\x21-\x2b\x2d-\x7e]+$/; // tus: keys are ASCII, no spaces or commas

function checkSegment(name: 'filename' | 'owner', value: string): void {
  if (!value.isWellFormed()) throw invalid(`${name} is not valid UTF-8`);
  if (Buffer.byteLength(value) > LIMITS[name]) throw invalid(`${name} is longer than ${LIMITS[name]} bytes`);
  if (BAD_SEGMENT_CHARS.test(value)) throw invalid(`${name} must be one path segment without control characters`);
  if (INVISIBLE.test(value)) throw invalid(`${name} contains a bidi or zero-width control character`);
  if (value === '.' || value === '..') throw invalid(`${name} must not be "." or ".."`);
}

const invalid = errors.invalidUploadMetadata;

/**
 * Parses an `Upload-Metadata` header: "comma-separated key-value pairs… The key and value
 * MUST be separated by a space. The key MUST NOT contain spaces and commas… The value
 * MUST be Base64 encoded." (tus 1.0.0). The grammar is @tus/utils' Metadata.parse, the one
 * @tus/server itself reads the header with; around it the gateway keeps two rules of its
 * own. Throws InvalidArgument on a malformed header.
 */
export function parseUploadMetadata(header: string | undefined): Record<string, string> {
  if (!header || header.trim() === '') return {}; // Metadata.parse refuses an empty header: no metadata is not an error here
  // Pairs are trimmed: a space after the comma (`a YQ==, b Yg==`) was always taken, and Metadata.parse would refuse it.
  const pairs = header.split(',').map((pair) => pair.trim());
  for (const pair of pairs) {
    // Stricter than Metadata.parse (any ASCII but space and comma): no control character or DEL in a key,
    // which would be echoed back in HEAD's Upload-Metadata and in every log line of the upload.
    const key = pair.split(' ')[0]!;
    if (key !== '' && !META_KEY.test(key)) throw invalid(`malformed key "${key.slice(0, 40)}"`);
  }
  let parsed: Record<string, string | null>;
  try {
    parsed = Metadata.parse(pairs.join(','));
  } catch {
    throw invalid('it must be comma-separated pairs of a key and its base64 value, each key once');
  }
  // A key without a value is an empty string, as the gateway keeps metadata.
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, v ?? '']));
}

/** The header of `metadata`, an empty value as a bare key (Metadata.stringify writes a null one so). */
export function encodeUploadMetadata(metadata: Record<string, string>): string {
  return Metadata.stringify(Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, v === '' ? null : v])));
}

/** Checks `owner` and `filename` against docs/api.md §2; throws InvalidArgument (→ 400, nothing created). */
export function validateUploadMetadata(metadata: Record<string, string>): void {
  // "`filename` (when absent, the upload id serves …; present but empty, or a key without a value: 400)"
  if (metadata.filename === '') throw invalid('filename is present but empty');
  if (metadata.filename !== undefined) checkSegment('filename', metadata.filename);
  // The declared digest of the whole file, checked at finalization (docs/integrity.md).
  if (metadata.sha256 !== undefined && !SHA256_HEX.test(metadata.sha256)) throw invalid('sha256 must be 64 hexadecimal digits');
  if (metadata.owner !== undefined && metadata.owner !== '') checkSegment('owner', metadata.owner);
}

/** The metadata as kept: `filename` defaults to the upload id, an absent or empty `owner` is `anonymous`. */
export function normalizeMetadata(raw: Record<string, string | null | undefined> | undefined, uploadId: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw ?? {})) out[k] = v ?? '';
  if (!out.filename) out.filename = uploadId;
  if (!out.owner) out.owner = 'anonymous';
  // Keys are NFC (storage/keys.ts): a macOS (NFD) file name and its NFC twin name one object.
  out.filename = out.filename.normalize('NFC');
  out.owner = out.owner.normalize('NFC');
  return out;
}

/** "The final object key is `models/{owner}/{filename}`." */
export function objectKeyFor(metadata: Record<string, string>): string {
  return `models/${metadata.owner}/${metadata.filename}`;
}

export function contentTypeFor(metadata: Record<string, string>): string {
  return metadata.filetype || mimeLookup(metadata.filename ?? '') || 'application/octet-stream';
}
