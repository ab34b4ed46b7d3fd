import { GatewayError, errors, isGatewayError } from '../errors.ts';

/** An S3 client error or a network failure, as one GatewayError: nothing from the SDK leaves storage/. */
export function fromS3Error(err: unknown, key?: string): GatewayError {
  if (isGatewayError(err)) return err;
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const name = e?.name ?? '';
  const detail = `S3 ${name || 'error'}: ${e?.message || e?.$metadata?.httpStatusCode || 'request failed'}`;
  const as = (g: GatewayError): GatewayError => new GatewayError(g.code, g.message, { cause: err, headers: { ...g.headers } });
  switch (name) {
    case 'NoSuchKey':
    case 'NotFound': // HEAD has no body, so the SDK names the error after the status
      return as(key === undefined ? new GatewayError('NoSuchKey', detail) : errors.noSuchKey(key));
    case 'AccessDenied':
    case 'Forbidden':
      return new GatewayError('AccessDenied', detail, { cause: err });
    case 'InvalidRange':
      return new GatewayError('InvalidRange', 'The requested range is not satisfiable', { cause: err });
    case 'PreconditionFailed': // CopySourceIfMatch: the source changed while it was being copied
      return new GatewayError('PreconditionFailed', detail, { cause: err });
    case 'MetadataTooLarge':
      return new GatewayError('InvalidArgument', detail, { cause: err });
    case 'EntityTooLarge':
      return new GatewayError('EntityTooLarge', detail, { cause: err });
    case 'KeyTooLongError':
      return new GatewayError('InvalidKey', detail, { cause: err });
    default:
      return errors.internal(detail, err);
  }
}

/** True for the SDK's "there is no such thing" errors (a 404 HEAD is just `NotFound`). */
export const isS3NotFound = (err: unknown): boolean => ['NotFound', 'NoSuchKey', 'NoSuchUpload'].includes((err as { name?: string } | undefined)?.name ?? '');
