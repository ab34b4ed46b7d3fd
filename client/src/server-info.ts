import { OptionsError, TARGET_CHUNK_BYTES } from './options.ts';

/** `GET {apiBase}/api/config`: the gateway's tus settings, so the widget never hard-codes them. */
export interface ServerInfo {
  /** Absolute tus endpoint (resolved against apiBase). */
  tusEndpoint: string;
  /** `Tus-Max-Size` in bytes. */
  maxSize: number;
  /** S3 multipart part size of the s3 datastore, in bytes. */
  partSize: number;
  datastore: 'file' | 's3';
}

/** Reads and checks the gateway's config. Rejects with an Error saying what went wrong. */
export async function fetchServerInfo(apiBase: string, signal?: AbortSignal): Promise<ServerInfo> {
  const url = `${apiBase}/api/config`;
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: { Accept: 'application/json' } });
  } catch (err) {
    throw new Error(`Cannot reach the upload server at ${apiBase} (${(err as Error).message})`, { cause: err });
  }
  if (!res.ok) throw new Error(`The upload server answered ${res.status} to ${url}`);
  const body = (await res.json().catch(() => null)) as Partial<Record<keyof ServerInfo, unknown>> | null;
  const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
  if (!body || typeof body.tusEndpoint !== 'string' || !isSize(body.maxSize) || !isSize(body.partSize) || (body.datastore !== 'file' && body.datastore !== 's3')) {
    throw new Error(`Unexpected answer from ${url}: not a gateway config`);
  }
  return {
    tusEndpoint: new URL(body.tusEndpoint, `${apiBase}/`).href,
    maxSize: body.maxSize,
    partSize: body.partSize,
    datastore: body.datastore,
  };
}

/**
 * Bytes per PATCH. @tus/s3-store cuts each PATCH body into parts of `partSize` and keeps
 * a short tail as a separate "incomplete part" object that the next PATCH must fetch
 * back and prepend; chunks of whole parts avoid that round trip. So the default is the
 * largest multiple of the part size up to TARGET_CHUNK_BYTES, and with the s3 datastore
 * a chosen size must be a multiple.
 */
export function chunkSizeFor(server: ServerInfo, requested: number | null): number {
  if (requested == null) return server.partSize * Math.max(1, Math.floor(TARGET_CHUNK_BYTES / server.partSize));
  if (server.datastore === 's3' && requested % server.partSize !== 0) {
    throw new OptionsError(`UploadWidget: chunkSize ${requested} must be a multiple of the server's S3 part size (${server.partSize} bytes)`);
  }
  return requested;
}
