/**
 * The client's one error type. It is not the server's GatewayError: the client maps every
 * failure to an exit code (API contract: 0 done, 1 failed, 2 usage, 3 integrity), and keeps
 * the server's error code (`{"error":{"code","message"}}`) when there was one.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, integrity: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failed,
    /** The server's error code, or a client-side one (`NetworkError`, `DigestMismatch`, …). */
    readonly code: string = 'Failed',
    readonly status?: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage, 'Usage');
export const integrityError = (message: string) => new CliError(message, EXIT.integrity, 'DigestMismatch');

/** Any thrown value as a CliError (network errors keep their cause's code, e.g. ECONNREFUSED). */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  const code = e?.cause?.code ?? e?.code;
  const message = e?.cause?.message ?? e?.message ?? String(err);
  return new CliError(message, EXIT.failed, typeof code === 'string' ? code : 'Failed');
}
