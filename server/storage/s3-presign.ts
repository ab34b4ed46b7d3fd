import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { errors } from '../errors.ts';
import { checkPutBinding, sha256Base64 } from './presign-binding.ts';
import type { PresignedPut, PresignPutOptions } from './store.ts';

// SigV4: "X-Amz-Expires … minimum 1 second, maximum 604800 seconds (seven days)".
export const SIGV4_MAX_EXPIRES = 604_800;

export function checkExpiresIn(expiresIn: number): void {
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > SIGV4_MAX_EXPIRES) {
    throw errors.invalidArgument(`expiresIn must be an integer from 1 to ${SIGV4_MAX_EXPIRES} seconds`);
  }
}

/*
 * A presigned PUT bound to one body, by hand on the SDK's own SigV4 signer. Why not
 * getSignedUrl: it always signs `X-Amz-Content-Sha256: UNSIGNED-PAYLOAD`, and the one place
 * where it could take the body's digest instead is private. Both binding headers matter:
 * S3 (AWS, and Ceph RGW since Reef) verifies `x-amz-checksum-sha256`, but RGW before that
 * (Pacific, Quincy) ignores it — while every SigV4 server checks the body against a signed
 * `x-amz-content-sha256` (XAmzContentSHA256Mismatch), since that is the payload hash the
 * signature itself is computed over.
 */

interface SerializedRequest {
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query: Record<string, string | string[] | null>;
  headers: Record<string, string>;
}

const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** The HTTP request `command` would send (endpoint, path style, headers), stopped before it is signed. */
async function serialize(client: S3Client, command: PutObjectCommand): Promise<SerializedRequest> {
  let captured: SerializedRequest | undefined;
  const stack = client.middlewareStack.clone();
  stack.addRelativeTo(
    () => async (args: { request: unknown }) => {
      captured = args.request as SerializedRequest;
      return { response: {}, output: { $metadata: {} } };
    },
    { name: 'ugwCaptureRequest', relation: 'before', toMiddleware: 'awsAuthMiddleware', override: true },
  );
  // The stack's types are those of every command at once; this one runs PutObject only.
  await command.resolveMiddleware(stack as never, client.config, {})({ input: command.input });
  if (!captured) throw new Error('the S3 client produced no request to presign');
  return captured;
}

// RFC 3986, as SigV4 canonicalises: encodeURIComponent leaves !'()* alone.
const escape = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function formatUrl(r: SerializedRequest): string {
  const query = Object.entries(r.query)
    .flatMap(([k, v]) => (v === null ? [escape(k)] : (Array.isArray(v) ? v : [v]).map((x) => `${escape(k)}=${escape(x)}`)))
    .join('&');
  return `${r.protocol}//${r.hostname}${r.port ? `:${r.port}` : ''}${r.path}?${query}`;
}

/**
 * A presigned URL for `command` whose `headers` (lower-case names) are all signed and stay
 * headers the client must send; with `sha256` (hex) the signature covers the body's digest.
 */
export async function presignPutObject(
  client: S3Client,
  command: PutObjectCommand,
  options: { expiresIn: number; headers: ReadonlySet<string>; sha256?: string },
): Promise<string> {
  const request = await serialize(client, command);
  // Every header present is signed, so only those the client is told to send may stay (the
  // serializer adds a default Content-Type, the SDK its user agents and invocation ids).
  for (const name of Object.keys(request.headers)) if (!options.headers.has(name.toLowerCase())) delete request.headers[name];
  request.headers.host = `${request.hostname}${request.port ? `:${request.port}` : ''}`;
  const unhoistable = new Set(options.headers);
  if (options.sha256) unhoistable.add('x-amz-content-sha256');
  // The payload hash the signature covers; without a digest, the query's UNSIGNED-PAYLOAD as getSignedUrl signs.
  request.headers['X-Amz-Content-Sha256'] = options.sha256 ?? UNSIGNED_PAYLOAD;
  const { credentials, region, sha256 } = client.config;
  const signer = new SignatureV4({ credentials, region, service: 's3', sha256, uriEscapePath: false, applyChecksum: false });
  const signed = await signer.presign(request as never, {
    expiresIn: options.expiresIn,
    signableHeaders: new Set([...unhoistable, 'host']),
    unhoistableHeaders: unhoistable,
  });
  return formatUrl(signed as unknown as SerializedRequest);
}

/**
 * A presigned PUT of `key`. The length is bound through the signed `Content-Length` (SigV4 signs every header in
 * X-Amz-SignedHeaders, so S3 refuses another length with SignatureDoesNotMatch); the sha256
 * through a signed `x-amz-content-sha256` (the payload hash of the signature: every SigV4
 * server checks the body against it) and `x-amz-checksum-sha256` (which newer S3 servers
 * verify as well), and a signed `x-amz-meta-sha256` carrying the same digest in hex, so the
 * object has its `metadata.sha256` as every other object does. All stay headers (unhoisted):
 * a header moved into the query string is signed, but S3 checks no body against it.
 */
export async function presignBoundPut(client: S3Client, bucket: string, key: string, options: PresignPutOptions): Promise<PresignedPut> {
  const { size, sha256 } = checkPutBinding(options);
  const checksum = sha256 && sha256Base64(sha256);
  const command = new PutObjectCommand({
    Bucket: bucket,
    Key: key,
    ContentType: options.contentType,
    ContentLength: size,
    ...(sha256 ? { ChecksumSHA256: checksum, Metadata: { sha256 } } : {}),
  });
  // With checksums WHEN_SUPPORTED the SDK would sign a CRC32 of the empty body it
  // sees here into the URL, and every real upload would then fail its checksum.
  command.middlewareStack.remove('flexibleChecksumsMiddleware');
  const headers: Record<string, string> = { 'Content-Length': String(size) };
  if (options.contentType) headers['Content-Type'] = options.contentType;
  if (sha256) Object.assign(headers, { 'x-amz-checksum-sha256': checksum, 'x-amz-meta-sha256': sha256, 'x-amz-content-sha256': sha256 });
  const signed = new Set(Object.keys(headers).map((h) => h.toLowerCase()));
  const url = await presignPutObject(client, command, { expiresIn: options.expiresIn, headers: signed, ...(sha256 ? { sha256 } : {}) });
  return { url, headers };
}
