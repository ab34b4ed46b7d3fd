/** Object keys travel percent-encoded per segment: the `Object-Key` header and `/api/objects/{key}` paths (docs/api.md §2, §4). */
export const encodeKey = (key: string): string => key.split('/').map(encodeURIComponent).join('/');
export const decodeKey = (key: string): string => key.split('/').map(decodeURIComponent).join('/');
