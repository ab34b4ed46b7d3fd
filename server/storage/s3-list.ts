import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { errors } from '../errors.ts';
import { MAX_LIST_LIMIT } from './store.ts';

// The cursor is the last key of the page, base64url: opaque to clients, valid for
// any S3 (StartAfter, unlike ContinuationToken, is plain data we can check).
export const encodeCursor = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');
export function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (key === '' || encodeCursor(key) !== cursor) throw errors.invalidArgument('invalid cursor');
  return key;
}

export interface KeyPage {
  /** At most `limit` visible keys, in S3's (lexicographic) order. */
  keys: string[];
  /** Whether visible keys may follow the last one. */
  more: boolean;
}

/**
 * One page of visible keys. The hidden keys are left out, and the listing goes on past
 * them, so a page is full whenever there are visible keys enough and its cursor is always a
 * VISIBLE key (a cursor is the last key of its page, and would otherwise hand out an upload's id).
 * Rejects with the SDK's error.
 */
export async function listVisibleKeys(
  client: S3Client,
  p: { bucket: string; prefix: string; limit: number; startAfter?: string; hidden: (key: string) => boolean },
): Promise<KeyPage> {
  const visible: string[] = [];
  let after = p.startAfter;
  for (let first = true; ; first = false) {
    const out = await client.send(
      new ListObjectsV2Command({ Bucket: p.bucket, Prefix: p.prefix || undefined, MaxKeys: first ? p.limit : MAX_LIST_LIMIT, StartAfter: after }),
    );
    const keys = (out.Contents ?? []).flatMap((c) => (c.Key === undefined ? [] : [c.Key]));
    for (const k of keys) if (!p.hidden(k)) visible.push(k);
    if (visible.length > p.limit) {
      visible.length = p.limit;
      return { keys: visible, more: true };
    }
    if (!out.IsTruncated || keys.length === 0) return { keys: visible, more: false };
    if (visible.length === p.limit) return { keys: visible, more: true };
    after = keys.at(-1);
  }
}
