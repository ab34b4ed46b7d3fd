/**
 * One error type for the whole gateway. Each adapter (S3, local disk, tus)
 * translates its own errors into a GatewayError at its edge; the HTTP error
 * middleware turns it into `{"error":{"code","message"}}` with `status`
 * (docs/api.md §7 lists every code with its status).
 */
export const errorStatus = {
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NotFound: 404,
  InvalidKey: 400,
  InvalidArgument: 400,
  InvalidRequest: 400,
  /** S3's code for a body whose digest is not the one declared (a presigned PUT bound to a sha256). */
  BadDigest: 400,
  AccessDenied: 403,
  UploadRefused: 403,
  SignatureDoesNotMatch: 403,
  ExpiredToken: 403,
  MethodNotAllowed: 405,
  Conflict: 409,
  Gone: 410,
  PreconditionFailed: 412,
  EntityTooLarge: 413,
  UnsupportedMediaType: 415,
  InvalidRange: 416,
  /** The upload is locked by another request (@tus/server's 423 for a PATCH racing a lock holder). */
  Locked: 423,
  /** tus checksum extension: "the Server MUST respond with the 460 Checksum Mismatch status". */
  ChecksumMismatch: 460,
  InternalError: 500,
  ServiceUnavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers (e.g. `Tus-Version` on 412, `Content-Range` on 416). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; headers?: Record<string, string>; status?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = options.status ?? errorStatus[code]; // `status`: a hook's own 4xx (UploadRefused)
    this.headers = options.headers ?? {};
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export const isGatewayError = (err: unknown): err is GatewayError => err instanceof GatewayError;

/**
 * The code for an HTTP status that a library chose (a @tus/server answer, an http-errors
 * error from Koa or co-body): the code that status means in the gateway's own answers.
 */
const codeByStatus: Readonly<Record<number, ErrorCode>> = {
  400: 'InvalidArgument', 403: 'AccessDenied', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict', 410: 'Gone',
  412: 'PreconditionFailed', 413: 'EntityTooLarge', 415: 'UnsupportedMediaType', 416: 'InvalidRange', 423: 'Locked',
  460: 'ChecksumMismatch', 500: 'InternalError', 503: 'ServiceUnavailable',
};

export function codeForStatus(status: number): ErrorCode {
  return codeByStatus[status] ?? (status >= 500 ? 'InternalError' : 'InvalidRequest');
}

/** An error from a library that carries an HTTP status (http-errors: Koa's `ctx.throw`, co-body, raw-body). */
function libraryStatus(err: unknown): { status: number; message: string } | undefined {
  const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown } | null;
  const status = e?.status ?? e?.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) return undefined;
  // http-errors: `expose` is true when the message is meant for the client (every 4xx), false for a 5xx.
  const message = e?.expose === true && typeof e.message === 'string' && e.message ? e.message : status >= 500 ? 'internal error' : 'bad request';
  return { status, message };
}

/**
 * Anything thrown that is not already a GatewayError: an error from a library that carries
 * `status`/`expose` keeps its status and (when exposed) its message; anything else becomes
 * an InternalError that keeps its cause.
 */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const lib = libraryStatus(err);
  if (lib) return new GatewayError(codeForStatus(lib.status), lib.message, { cause: err, status: lib.status });
  return new GatewayError('InternalError', 'internal error', { cause: err });
}

/** Every error the gateway raises, by name: no other file constructs a GatewayError. */
export const errors = {
  noSuchKey: (key: string, cause?: unknown) => new GatewayError('NoSuchKey', `The specified key does not exist: ${key}`, { cause }),
  noSuchUpload: (message = 'No such upload') => new GatewayError('NoSuchUpload', message),
  notFound: (message: string) => new GatewayError('NotFound', message),
  noRoute: (method: string, path: string) => new GatewayError('NotFound', `No route for ${method} ${path}`),
  invalidKey: (reason: string) => new GatewayError('InvalidKey', `Invalid key: ${reason}`),
  invalidArgument: (message: string, cause?: unknown) => new GatewayError('InvalidArgument', message, { cause }),
  invalidUploadMetadata: (message: string) => new GatewayError('InvalidArgument', `Upload-Metadata: ${message}`),
  /** A range past the end: `Content-Range: bytes *\/size` when the size is known (RFC 9110 §15.5.17). */
  invalidRange: (size?: number, cause?: unknown) =>
    new GatewayError('InvalidRange', 'The requested range is not satisfiable', {
      cause,
      headers: size === undefined ? {} : { 'Content-Range': `bytes */${size}` },
    }),
  accessDenied: (message: string, cause?: unknown) => new GatewayError('AccessDenied', message, { cause }),
  /** localfs never follows a symbolic link inside its root. */
  symlinkOnPath: (key: string) => new GatewayError('AccessDenied', `Access denied: a symbolic link is on the path of ${key}`),
  signatureDoesNotMatch: (detail = 'wrong signature, key or method') =>
    new GatewayError('SignatureDoesNotMatch', `The request signature does not match (${detail})`),
  badDigest: (expected: string, actual: string) =>
    new GatewayError('BadDigest', `The body's sha256 ${actual} is not the ${expected} the URL was signed for; nothing was stored`),
  expiredToken: () => new GatewayError('ExpiredToken', 'The presigned URL has expired'),
  methodNotAllowed: (message: string, allow?: string) => new GatewayError('MethodNotAllowed', message, { headers: allow ? { Allow: allow } : {} }),
  conflict: (message: string, headers?: Record<string, string>) => new GatewayError('Conflict', message, { headers }),
  /** On localfs a key cannot be both an object and a prefix (a file and a directory). */
  keyClash: (key: string) => new GatewayError('Conflict', `${key} clashes with an existing object or prefix (on localfs a key cannot be both)`),
  gone: (message: string, cause?: unknown) => new GatewayError('Gone', message, { cause }),
  preconditionFailed: (message = 'At least one of the preconditions you specified did not hold', cause?: unknown) =>
    new GatewayError('PreconditionFailed', message, { cause }),
  /** tus 1.0.0: "it MUST respond with the 412 Precondition Failed status and MUST include the Tus-Version header". */
  tusVersionRequired: (version: string) =>
    new GatewayError('PreconditionFailed', `Tus-Resumable ${version} required`, { headers: { 'Tus-Version': version, 'Tus-Resumable': version } }),
  /** `closeConnection`: the rest of the body is never read, so the connection is closed rather than drained. */
  entityTooLarge: (limit: number, { closeConnection = false } = {}) =>
    new GatewayError('EntityTooLarge', `The body exceeds the limit of ${limit} bytes`, { headers: closeConnection ? { Connection: 'close' } : {} }),
  unsupportedMediaType: (message: string) => new GatewayError('UnsupportedMediaType', message),
  checksumMismatch: (message: string) => new GatewayError('ChecksumMismatch', message),
  internal: (message: string, cause?: unknown) => new GatewayError('InternalError', message, { cause }),
  /**
   * An adapter's own error, translated at its edge into the gateway code that means the same
   * (the S3 error names in storage/s3.ts): the message says what the backend said, the cause keeps it.
   */
  translated: (code: ErrorCode, message: string, cause: unknown) => new GatewayError(code, message, { cause }),
  /** A tus answer from @tus/server (`{status_code, body}`, text) as the gateway's JSON error, with its status. */
  fromTus: (err: { status_code: number; body: string }) =>
    new GatewayError(err.status_code === 404 ? 'NoSuchUpload' : codeForStatus(err.status_code), String(err.body).trim(), { status: err.status_code }),
  /** A dependency (Store, tus directory, Redis) is not usable now; readiness reports it. */
  unavailable: (message: string, cause?: unknown) => new GatewayError('ServiceUnavailable', message, { cause }),
  /** A dependency (Store, tus datastore, Redis) does not answer: try again after `retryAfter` seconds. */
  serviceUnavailable: (message: string, retryAfter: number, cause?: unknown) =>
    new GatewayError('ServiceUnavailable', message, { cause, headers: { 'Retry-After': String(retryAfter) } }),
  /** The preCreate hook said no: its own 4xx status and message. */
  hookRefused: (status: number, message: string) => new GatewayError('UploadRefused', message, { status }),
  /** The preCreate hook did not give a usable answer: the creation fails closed. */
  hookUnavailable: (reason: string, cause?: unknown) =>
    new GatewayError('ServiceUnavailable', `The upload cannot be approved now (preCreate hook: ${reason})`, { cause }),
};
