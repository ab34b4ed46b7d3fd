import { errors } from '../errors.ts';

export const MAX_KEY_BYTES = 1024;
export const SIDECAR_SUFFIX = '.meta.json';

// docs/api.md §3: "Keys are UTF-8, 1–1024 bytes, with no leading `/`, no empty, `.` or `..`
// segment, no control characters, and on localfs never ending in `.meta.json`."
// Backslash is refused as well: on a local disk it is a separator on some systems,
// and no S3 client expects it to mean one.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// Characters that change how a name LOOKS without being seen: bidi embeddings, overrides and
// isolates (U+202A–U+202E, U+2066–U+2069), the marks U+200E/U+200F/U+061C, and the zero-width
// U+200B–U+200D, U+2060, U+FEFF. `models/alice/\u202Excod.onnx` reads as another file name;
// a zero-width joiner makes two keys that print the same. Refused in keys, owners and filenames.
export const INVISIBLE = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]/;

/** Throws `InvalidKey` naming the rule the key breaks; returns the key when valid. */
export function validateKey(key: unknown, options: { localfs?: boolean } = {}): string {
  if (typeof key !== 'string') throw errors.invalidKey('key must be a string');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes < 1 || bytes > MAX_KEY_BYTES) throw errors.invalidKey(`key must be 1 to ${MAX_KEY_BYTES} bytes of UTF-8 (got ${bytes})`);
  if (!key.isWellFormed()) throw errors.invalidKey('key is not valid UTF-8');
  if (CONTROL.test(key)) throw errors.invalidKey('key contains a control character');
  if (INVISIBLE.test(key)) throw errors.invalidKey('key contains a bidi or zero-width control character');
  // Keys are one way: NFC. The HTTP edges and the tus metadata normalise (toKey); the Store
  // refuses any other form, so an NFD name and its NFC twin can never be two objects.
  if (key.normalize('NFC') !== key) throw errors.invalidKey('key is not in Unicode NFC (normalise it first)');
  if (key.includes('\\')) throw errors.invalidKey('key contains a backslash');
  if (key.startsWith('/')) throw errors.invalidKey('key must not start with /');
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') throw errors.invalidKey('key has an empty, "." or ".." segment');
  }
  if (options.localfs && key.endsWith(SIDECAR_SUFFIX)) throw errors.invalidKey(`key must not end with ${SIDECAR_SUFFIX}`);
  return key;
}

/** Validates a key prefix for listing: like a key, but may be empty and may end with `/`. */
export function validatePrefix(prefix: string): string {
  if (prefix === '') return prefix;
  if (prefix === '/') throw errors.invalidKey('prefix must not be "/"');
  if (prefix.endsWith('/')) {
    validateKey(prefix.slice(0, -1));
    return prefix;
  }
  // The last segment is only the start of a name: `.` may begin `.tus`, `..` may begin `..x`.
  const at = prefix.lastIndexOf('/') + 1;
  const last = prefix.slice(at);
  validateKey(last === '.' || last === '..' ? prefix.slice(0, at) + '_'.repeat(last.length) : prefix);
  return prefix;
}

/** The key in a URL path: each segment percent-encoded (docs/api.md §2 `Object-Key`, §4 `{key}`). */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/**
 * The inverse of encodeKeyPath, NFC-normalised: each segment is decoded on its own, and a
 * segment whose decoding holds a `/` (`models%2Falice`) is refused — an escaped slash is data,
 * never a separator, and no key may contain it in a segment. `InvalidKey` on a malformed escape.
 */
export function decodeKeyPath(path: string): string {
  const segments = path.split('/').map((seg) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      throw errors.invalidKey('malformed percent-encoding in key');
    }
    if (decoded.includes('/')) throw errors.invalidKey('a percent-encoded "/" inside a path segment is not a separator');
    return decoded;
  });
  return segments.join('/').normalize('NFC');
}
