/**
 * What is wrong, in one line, when a HeadBucket fails: the start-up check and /readyz
 * say "missing bucket", "bad credentials" or "unreachable", never "UnknownError".
 * HeadBucket answers have no body, so the SDK's error name is often just the status
 * ("NotFound", "Forbidden", "UnknownError"): the status code and the socket error decide.
 */
export function describeBucketFailure(err: unknown, bucket: string, endpoint: string): string {
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; cause?: { code?: string } };
  const where = endpoint || 'AWS S3';
  const status = e?.$metadata?.httpStatusCode;
  const code = e?.code ?? e?.cause?.code ?? '';
  if (status === 404 || e?.name === 'NoSuchBucket' || e?.name === 'NotFound') return `S3 bucket "${bucket}" does not exist at ${where}`;
  if (status === 403 || status === 401) {
    return `S3 refused access to bucket "${bucket}" at ${where} (HTTP ${status}): wrong access key or secret key, or the key may not use this bucket`;
  }
  if (e?.name === 'CredentialsProviderError') {
    return `no S3 credentials for bucket "${bucket}": set storage.s3.accessKey and secretKey (S3_ACCESS_KEY, S3_SECRET_KEY) or the AWS default chain`;
  }
  if (status === 301 || status === 400) return `S3 bucket "${bucket}" at ${where}: HTTP ${status} (wrong region or endpoint?)`;
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH/.test(`${code} ${e?.message ?? ''}`) || e?.name === 'TimeoutError') {
    return `S3 endpoint ${where} is unreachable (${code || e?.name}): check storage.s3.endpoint`;
  }
  return `S3 bucket "${bucket}" at ${where}: ${e?.name ?? 'error'}${status ? ` (HTTP ${status})` : ''}: ${e?.message ?? 'request failed'}`;
}
