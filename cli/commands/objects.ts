import { emit, objectPath, type Context } from '../context.ts';
import { requestJson } from '../http.ts';
import { listPage, statObject, type ObjectInfo } from '../objects-api.ts';
import { formatBytes } from '../progress.ts';

/** `ugw ls [PREFIX]`: every object under PREFIX, following nextCursor page by page (one JSON document per object). */
export async function lsCommand(ctx: Context, prefix: string, flags: { pageSize: number }): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await listPage(ctx, prefix, flags.pageSize, cursor);
    for (const o of page.objects) emit(ctx, o, `${formatBytes(o.size).padStart(10)}  ${o.lastModified}  ${o.key}`);
    cursor = page.nextCursor;
  } while (cursor);
}

function describe(o: ObjectInfo): string {
  const lines = [
    `key           ${o.key}`,
    `size          ${o.size} (${formatBytes(o.size)})`,
    `content-type  ${o.contentType}`,
    `etag          ${o.etag}`,
    `modified      ${o.lastModified}`,
  ];
  for (const [k, v] of Object.entries(o.metadata)) lines.push(`${`meta.${k}`.padEnd(13)} ${v}`);
  return lines.join('\n');
}

/** `ugw stat KEY`: the object's ObjectInfo, metadata (and its sha256) included. */
export async function statCommand(ctx: Context, key: string): Promise<void> {
  const info = await statObject(ctx, key);
  emit(ctx, info, describe(info));
}

/** `ugw rm KEY`: DELETE, which succeeds also for an absent key (as S3). */
export async function rmCommand(ctx: Context, key: string): Promise<void> {
  await requestJson(ctx, 'DELETE', objectPath(key));
  emit(ctx, { key, deleted: true }, `deleted ${key}`);
}
