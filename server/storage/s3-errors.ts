import { errors, isGatewayError, type GatewayError } from '../errors.ts';

/** An S3 client error or a network failure, as one GatewayError: nothing from the SDK leaves storage/. */
export function fromS3Error(err: unknown, key?: string): GatewayError {
  if (isGatewayError(err)) return err;
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const name = e?.name ?? '';
  const detail = `S3 ${name || 'error'}: ${e?.message || e?.$metadata?.httpStatusCode || 'request failed'}`;
  switch (name) {
    case 'NoSuchKey':
    case 'NotFound': // HEAD has no body, so the SDK names the error after the status
      return key === undefined ? errors.translated('NoSuchKey', detail, err) : errors.noSuchKey(key, err);
    case 'AccessDenied':
    case 'Forbidden':
      return errors.accessDenied(detail, err);
    case 'InvalidRange':
      return errors.invalidRange(undefined, err);
    case 'PreconditionFailed': // CopySourceIfMatch: the source changed while it was being copied
      return errors.preconditionFailed(detail, err);
    case 'MetadataTooLarge':
      return errors.invalidArgument(detail, err);
    case 'EntityTooLarge':
      return errors.translated('EntityTooLarge', detail, err);
    case 'KeyTooLongError':
      return errors.translated('InvalidKey', detail, err);
    default:
      return errors.internal(detail, err);
  }
}

/** True for the SDK's "there is no such thing" errors (a 404 HEAD is just `NotFound`). */
export const isS3NotFound = (err: unknown): boolean => ['NotFound', 'NoSuchKey', 'NoSuchUpload'].includes((err as { name?: string } | undefined)?.name ?? '');
