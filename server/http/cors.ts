/**
 * The CORS header lists, in one place: the Koa CORS middleware (app.ts) and @tus/server
 * (tus/index.ts, which answers its own OPTIONS and sets its own Expose-Headers) use the same.
 */

/** Headers a browser client must be able to read (tus and the gateway's own). */
export const EXPOSED_HEADERS = [
  'Object-Key', 'Location', 'Upload-Offset', 'Upload-Length', 'Upload-Expires', 'Upload-Metadata',
  'Upload-Defer-Length', 'Tus-Version', 'Tus-Resumable', 'Tus-Max-Size', 'Tus-Extension',
  'ETag', 'Content-Range', 'Content-Length', 'Content-Disposition', 'Digest', 'Repr-Digest', 'Accept-Ranges', 'X-Request-Id',
  'Tus-Checksum-Algorithm',
];

/** Request headers a browser client may send. */
export const ALLOWED_HEADERS = [
  'Authorization', 'Content-Type', 'Upload-Offset', 'Upload-Length', 'Upload-Metadata', 'Upload-Defer-Length',
  'Upload-Concat', 'Tus-Resumable', 'X-HTTP-Method-Override', 'X-Requested-With', 'X-Request-Id', 'Range', 'If-None-Match',
  'Upload-Checksum',
];
