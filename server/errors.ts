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
  Unauthorized: 401,
  AccessDenied: 403,
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

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; headers?: Record<string, string> } = {}) {
    super(message, { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = errorStatus[code];
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
  signatureDoesNotMatch: () =>
    new GatewayError('SignatureDoesNotMatch', 'The request signature does not match (wrong signature, key or method)'),
  expiredToken: () => new GatewayError('ExpiredToken', 'The presigned URL has expired'),
  entityTooLarge: (limit: number) => new GatewayError('EntityTooLarge', `The body exceeds the limit of ${limit} bytes`),
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
};
