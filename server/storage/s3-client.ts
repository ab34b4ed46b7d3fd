import { S3, type S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Histogram } from 'prom-client';
import { ConfigError, type Config } from '../config.ts';
import { hashPayloadsInPool } from './s3-payload-hash.ts';

type S3Settings = Omit<Config['storage']['s3'], 'publicEndpoint'> & { publicEndpoint?: string };

/** Parallel requests to S3 per client: the put/copy queues and list's HEADs share them. */
const MAX_SOCKETS = 64;

/**
 * The one way to make an S3 client: the s3 Store, its presigning client and the tus s3
 * datastore all get theirs here, with one set of retries, timeouts and keep-alive.
 * Wiring decides endpoints and credentials; the Store only receives the client.
 * An `S3` (the SDK's S3Client with a method per command) because @tus/s3-store calls
 * its client that way; to the Store it is an S3Client like any other.
 */
export function createS3Client(s3: S3Settings): S3 {
  // The SDK's default (WHEN_SUPPORTED) adds CRC32 checksums to every request; RGW
  // refuses streamed UploadPart bodies then (411 MissingContentLength), and MinIO, R2
  // and older Ceph have had similar trouble. docs/s3-test-server.md: hence a setting.
  const checksumMode = s3.checksums === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';

  // Agent options rather than a NodeHttpHandler instance: the SDK builds its own
  // NodeHttpHandler from them, so no direct dependency on @smithy/node-http-handler.
  const agentOptions = { keepAlive: true, maxSockets: MAX_SOCKETS };
  const config: S3ClientConfig = {
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    requestChecksumCalculation: checksumMode,
    responseChecksumValidation: checksumMode,
    // Standard retry: 5 attempts with jittered backoff on throttling, 5xx and
    // connection resets. Streamed bodies (put) cannot be replayed, whole parts can.
    maxAttempts: 5,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: 10_000,
      // Idle socket limit, not a total: a 20 GiB GET may stream for hours, but a
      // connection that moves no byte for 5 minutes is dead.
      socketTimeout: 300_000,
      httpAgent: agentOptions,
      httpsAgent: agentOptions,
    },
  };
  // Empty endpoint = AWS: the SDK derives it from the region.
  if (s3.endpoint) config.endpoint = s3.endpoint;
  // Both keys or neither: with neither, the SDK's default chain (env, profile,
  // instance/pod role) applies, which is what an AWS deployment wants.
  if (Boolean(s3.accessKey) !== Boolean(s3.secretKey)) {
    throw new ConfigError('invalid configuration: storage.s3: accessKey and secretKey must both be set or both be empty');
  }
  if (s3.accessKey && s3.secretKey) {
    config.credentials = { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey };
  }
  const client = new S3(config);
  hashPayloadsInPool(client);
  return client;
}

/**
 * Times every command a client sends (`gateway_s3_operation_duration_seconds`), by the
 * SDK's own command name: a middleware at the `initialize` step sees each call once,
 * retries included.
 */
export function observeS3(client: S3Client, histogram: Histogram<'command' | 'outcome'>): S3Client {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const end = histogram.startTimer({ command: context.commandName ?? 'unknown' });
      try {
        const out = await next(args);
        end({ outcome: 'ok' });
        return out;
      } catch (err) {
        end({ outcome: 'error' });
        throw err;
      }
    },
    { step: 'initialize', name: 'gatewayMetrics', override: true },
  );
  return client;
}

/** The endpoint a client talks to, for messages ('' = AWS's, derived from the region). */
export async function endpointOf(client: S3Client): Promise<string> {
  const ep = await client.config.endpoint?.().catch(() => undefined);
  return ep ? `${ep.protocol}//${ep.hostname}${ep.port ? `:${ep.port}` : ''}` : '';
}
