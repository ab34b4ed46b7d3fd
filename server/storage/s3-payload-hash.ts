import type { S3Client } from '@aws-sdk/client-s3';
import { native } from '../tus/native-addon.ts';

/** Smaller bodies are hashed where the SDK hashes them: a pool job's round trip costs more. */
const POOL_FROM = 256 * 1024;
const HEADER = 'x-amz-content-sha256';

/**
 * The SigV4 payload hash of a request's in-memory body (an UploadPart's 8 MiB part), taken on a
 * libuv pool thread by native/sha256 and handed to the signer as `x-amz-content-sha256`, which
 * it uses as it is (@smithy/signature-v4 getPayloadHash: "if the header is there, return it").
 *
 * Why: the SDK hashes a Buffer body with node:crypto on the event loop: ~1 ms per MiB there,
 * 130 ms of each 128 MiB s3 bench upload during which the gateway read no socket (node
 * --cpu-prof: `update crypto/hash` the main thread's largest entry). The same hash, the same
 * signature, S3 checks it the same way; only the thread changes. Without the addon, nothing
 * is added and the SDK hashes as before.
 */
export function hashPayloadsInPool(client: S3Client): void {
  const n = native;
  if (!n) return;
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      const body = request.body;
      if (request.headers && ArrayBuffer.isView(body) && body.byteLength >= POOL_FROM && !hasHeader(request.headers)) {
        const state = Buffer.alloc(n.stateSize);
        n.init(state);
        await n.updateAsync(state, [new Uint8Array(body.buffer, body.byteOffset, body.byteLength)]);
        request.headers[HEADER] = n.final(state).toString('hex');
      }
      return next(args);
    },
    // After serialization (the body is known), before the retries and the signer (finalizeRequest).
    { step: 'build', name: 'gatewayPayloadHashInPool', override: true },
  );
}

function hasHeader(headers: Record<string, string>): boolean {
  for (const name of Object.keys(headers)) if (name.toLowerCase() === HEADER) return true;
  return false;
}
