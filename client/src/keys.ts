/** Object keys travel percent-encoded per segment: the `Object-Key` header and `/api/objects/{key}` paths (docs/api.md §2, §4). */
// The server's own rule, so that client and server can never disagree on it.
export { encodeKeyPath as encodeKey } from '../../server/storage/keys.ts';
export const decodeKey = (key: string): string => key.split('/').map(decodeURIComponent).join('/');
