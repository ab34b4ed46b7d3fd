import { errors } from '../errors.ts';
import type { ObjectInfo } from './store.ts';

/*
 * User metadata as S3 carries it: `x-amz-meta-{key}: {value}` HTTP headers.
 *
 * Keys: HTTP header names, which S3 (and every HTTP stack) treats case-insensitively
 * and hands back lowercased, yet the gateway's metadata has camelCase names (`uploadId`)
 * and tus allows any key without space or comma. So the header name is the key
 * lowercased (what other S3 tools see: `x-amz-meta-uploadid`), or `ugw-kN` for a key
 * that is no header name at all, and one more entry, `x-amz-meta-ugw-names`, maps those
 * header names back to the original keys: what put stores is exactly what stat returns.
 *
 * Values: a header value is US-ASCII in practice (Node refuses characters above
 * U+00FF and sends Latin-1 below it; S3 trims edge whitespace). AWS documents RFC 2047
 * for the rest: it decodes `=?UTF-8?B?...?=` on write and encodes non-ASCII on read.
 * So a value that is not plain printable ASCII is sent as RFC 2047 encoded-words,
 * and every value read is decoded: a UTF-8 file name round-trips exactly on AWS
 * (which decodes and re-encodes) and on RGW/MinIO (which store the words as sent).
 */

// Printable ASCII without leading or trailing space (a header value loses those).
const PLAIN = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
// RFC 7230 token: the characters a header name may hold.
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;
const WORDS_ONLY = /^=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=(?:[ \t]+=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)*$/;
// 45 bytes → 60 base64 characters + 12 for `=?UTF-8?B?` and `?=`: the RFC's 75 at most.
const WORD_BYTES = 45;

const encodedWord = (text: string): string => `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;

/** One value in header-safe form: itself when plain ASCII, else RFC 2047 B-encoded words split on character boundaries. */
export function encodeMetadataValue(value: string): string {
  // `=?` is encoded too, so that a plain value never reads back as an encoded-word.
  if (PLAIN.test(value) && !value.includes('=?')) return value;
  const words: string[] = [];
  let chunk = '';
  for (const ch of value) {
    if (chunk && Buffer.byteLength(chunk + ch, 'utf8') > WORD_BYTES) {
      words.push(encodedWord(chunk));
      chunk = '';
    }
    chunk += ch;
  }
  words.push(encodedWord(chunk));
  return words.join(' ');
}

function decodeQ(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '_') bytes.push(0x20);
    else if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c.charCodeAt(0) & 0xff);
  }
  return Buffer.from(bytes);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The inverse of encodeMetadataValue; also reads AWS's own encodings (B or Q, several words). */
export function decodeMetadataValue(raw: string): string {
  if (WORDS_ONLY.test(raw)) {
    const parts: Buffer[] = [];
    for (const [, charset, encoding, text] of raw.matchAll(WORD)) {
      // UTF-8 (and its subset US-ASCII) only: words in other charsets stay as they came.
      if (!/^(utf-8|us-ascii)(\*.*)?$/i.test(charset!)) return raw;
      parts.push(encoding === 'B' || encoding === 'b' ? Buffer.from(text!, 'base64') : decodeQ(text!));
    }
    // Bytes joined before decoding: another writer may have split a character between words.
    return Buffer.concat(parts).toString('utf8');
  }
  // Raw UTF-8 written by another client arrives as Latin-1 characters from Node's parser.
  if (/[\x80-\xff]/.test(raw) && !/[^\x00-\xff]/.test(raw)) {
    try {
      return strictUtf8.decode(Buffer.from(raw, 'latin1'));
    } catch {
      return raw;
    }
  }
  return raw;
}

/** The metadata entry that maps header names back to the caller's key names (see above). */
export const NAMES_KEY = 'ugw-names';
const RESERVED = 'ugw-';

/**
 * Metadata for the SDK's `Metadata`: values encoded; a key that is not a lowercase
 * header name (or that falls in our reserved `ugw-` space) gets a header name of its
 * own and an entry in NAMES_KEY. `InvalidArgument` on a value that is not well-formed.
 */
export function encodeMetadata(metadata: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const names: Record<string, string> = {};
  let renamed = 0;
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (typeof value !== 'string' || !value.isWellFormed()) {
      throw errors.invalidArgument(`metadata value of ${JSON.stringify(key)} must be a well-formed string`);
    }
    let header = key.toLowerCase();
    if (!TOKEN.test(key) || header.startsWith(RESERVED) || Object.hasOwn(out, header)) header = `${RESERVED}k${++renamed}`;
    if (header !== key) names[header] = key;
    out[header] = encodeMetadataValue(value);
  }
  if (renamed || Object.keys(names).length) out[NAMES_KEY] = encodeMetadataValue(JSON.stringify(names));
  return out;
}

function readNames(raw: string | undefined): Record<string, string> {
  if (raw === undefined) return {};
  try {
    const names: unknown = JSON.parse(decodeMetadataValue(raw));
    return typeof names === 'object' && names !== null ? (names as Record<string, string>) : {};
  } catch {
    return {}; // a damaged map costs the original spelling of the names, not the values
  }
}

/** The SDK's `Metadata` from a HEAD or GET: values decoded, key names restored. */
export function decodeMetadata(metadata: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const names = readNames(metadata?.[NAMES_KEY]);
  const out: Record<string, string> = {};
  for (const [header, value] of Object.entries(metadata ?? {})) {
    if (header === NAMES_KEY) continue;
    const name = Object.hasOwn(names, header) && typeof names[header] === 'string' ? names[header] : header;
    out[name] = decodeMetadataValue(value);
  }
  return out;
}

/** "The user-defined metadata is limited to 2 KB in size … the sum of the number of bytes in the UTF-8 encoding of each key and value" (Amazon S3 user guide). */
export const S3_METADATA_LIMIT = 2048;

/** Bytes that `metadata` takes as S3 user metadata, as S3 counts them (keys and values as sent, after encoding). */
export function s3MetadataBytes(metadata: Readonly<Record<string, string>>): number {
  let n = 0;
  for (const [k, v] of Object.entries(encodeMetadata(metadata))) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/** The headers of a HEAD or GET that make an ObjectInfo. */
export interface S3ObjectHeaders {
  ContentLength?: number;
  ContentType?: string;
  ETag?: string;
  LastModified?: Date;
  Metadata?: Record<string, string>;
}

export function toObjectInfo(key: string, o: S3ObjectHeaders, size = o.ContentLength ?? 0): ObjectInfo {
  return {
    key,
    size,
    contentType: o.ContentType ?? 'application/octet-stream',
    etag: o.ETag ?? '',
    lastModified: o.LastModified ?? new Date(0),
    metadata: decodeMetadata(o.Metadata),
  };
}
