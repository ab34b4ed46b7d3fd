import type { Context } from './context.ts';
import { CliError, EXIT } from './errors.ts';
import { requestJson } from './http.ts';

/** ObjectInfo as the gateway serves it. */
export interface ObjectInfo {
  key: string;
  size: number;
  contentType: string;
  etag: string;
  lastModified: string;
  metadata: Record<string, string>;
}

export interface ObjectPage {
  objects: ObjectInfo[];
  nextCursor?: string;
}

export function listPage(ctx: Context, prefix: string, limit: number, cursor?: string): Promise<ObjectPage> {
  const q = new URLSearchParams({ prefix, limit: String(limit), ...(cursor ? { cursor } : {}) });
  return requestJson<ObjectPage>(ctx, 'GET', `/api/objects?${q}`);
}

/**
 * One object's ObjectInfo (with its metadata, which HEAD does not carry): the list in key
 * order with the key itself as prefix starts with the key when it exists.
 */
export async function statObject(ctx: Context, key: string): Promise<ObjectInfo> {
  const page = await listPage(ctx, key, 1);
  const info = page.objects[0];
  if (!info || info.key !== key) throw new CliError(`No such key: ${key}`, EXIT.failed, 'NoSuchKey', 404);
  return info;
}
