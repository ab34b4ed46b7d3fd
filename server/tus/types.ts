import type { Middleware } from 'koa';

/** GET /api/uploads/{id} (docs/api.md §2). */
export interface UploadStatus {
  id: string;
  offset: number;
  /** Absent while the length is deferred (creation-defer-length). */
  length?: number;
  status: 'uploading' | 'finalizing' | 'done' | 'failed';
  key?: string;
  /** Why the upload failed (status `failed`), e.g. a declared sha256 that did not match. */
  error?: string;
  metadata: Record<string, string>;
}

/** The tus side of the gateway as the rest of the app sees it. */
export interface TusGateway {
  /** Handles every request under `tus.path`; passes anything else on. */
  readonly middleware: Middleware;
  /** Reads an upload's state without taking its lock. Throws GatewayError `NoSuchUpload`. */
  status(id: string): Promise<UploadStatus>;
  /** The id of the upload in flight that reserves `key` (a presigned PUT for it is refused), if any. */
  reservedBy?(key: string): Promise<string | undefined>;
  /** Resolves when the tus datastore answers (for /readyz). */
  ping(): Promise<void>;
  /** Stops timers and background work. */
  close(): Promise<void>;
}
