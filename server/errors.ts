/**
 * One error type for the whole gateway. Each adapter (S3, local disk, tus)
 * translates its own errors into a GatewayError at its edge; the HTTP error
 * middleware turns it into `{"error":{"code","message"}}` with `status`.
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
  Unauthorized: 401,
  QuotaExceeded: 403,
  SignatureDoesNotMatch: 403,
  ExpiredToken: 403,
  MethodNotAllowed: 405,
  Conflict: 409,
  ObjectExists: 409,
  Gone: 410,
  PreconditionFailed: 412,
  EntityTooLarge: 413,
  UnsupportedMediaType: 415,
  InvalidRange: 416,
  /** tus checksum extension: "the Server MUST respond with the 460 Checksum Mismatch status". */
  ChecksumMismatch: 460,
  InternalError: 500,
  ServiceUnavailable: 503,
  InsufficientStorage: 507,
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

/** Anything thrown that is not already a GatewayError becomes an InternalError that keeps its cause. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('InternalError', 'internal error', { cause: err });
}

export const errors = {
  noSuchKey: (key: string) => new GatewayError('NoSuchKey', `The specified key does not exist: ${key}`),
  invalidKey: (reason: string) => new GatewayError('InvalidKey', `Invalid key: ${reason}`),
  invalidArgument: (message: string) => new GatewayError('InvalidArgument', message),
  invalidRange: (size: number) =>
    new GatewayError('InvalidRange', 'The requested range is not satisfiable', {
      headers: { 'Content-Range': `bytes */${size}` },
    }),
  signatureDoesNotMatch: (detail = 'wrong signature, key or method') =>
    new GatewayError('SignatureDoesNotMatch', `The request signature does not match (${detail})`),
  badDigest: (expected: string, actual: string) =>
    new GatewayError('BadDigest', `The body's sha256 ${actual} is not the ${expected} the URL was signed for; nothing was stored`),
  expiredToken: () => new GatewayError('ExpiredToken', 'The presigned URL has expired'),
  entityTooLarge: (limit: number) => new GatewayError('EntityTooLarge', `The body exceeds the limit of ${limit} bytes`),
  checksumMismatch: (message: string) => new GatewayError('ChecksumMismatch', message),
  /** RFC 6750 §3: the challenge; `invalid_token` when a credential was sent but is not good. Never echoes the credential. */
  unauthorized: (message: string, invalidToken: boolean) =>
    new GatewayError('Unauthorized', message, {
      headers: { 'WWW-Authenticate': `Bearer realm="upload-gateway"${invalidToken ? ', error="invalid_token"' : ''}` },
    }),
  accessDenied: (message: string) => new GatewayError('AccessDenied', message),
  objectExists: (key: string, why: string) => new GatewayError('ObjectExists', `${key}: ${why}`),
  quotaExceeded: (message: string) => new GatewayError('QuotaExceeded', message),
  insufficientStorage: (message: string) => new GatewayError('InsufficientStorage', message),
  internal: (message: string, cause?: unknown) => new GatewayError('InternalError', message, { cause }),
  /** A dependency (Store, tus datastore, Redis) does not answer: try again after `retryAfter` seconds. */
  serviceUnavailable: (message: string, retryAfter: number, cause?: unknown) =>
    new GatewayError('ServiceUnavailable', message, { cause, headers: { 'Retry-After': String(retryAfter) } }),
  /** The preCreate hook said no: its own 4xx status and message. */
  hookRefused: (status: number, message: string) => new GatewayError('UploadRefused', message, { status }),
  /** The preCreate hook did not give a usable answer: the creation fails closed. */
  hookUnavailable: (reason: string, cause?: unknown) =>
    new GatewayError('ServiceUnavailable', `The upload cannot be approved now (preCreate hook: ${reason})`, { cause }),
};
