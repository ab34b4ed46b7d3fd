import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Server } from '@tus/server';
import { GatewayError, toGatewayError } from '../errors.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { encodeKeyPath, validateKey } from '../storage/keys.ts';
import { S3_METADATA_LIMIT, s3MetadataBytes } from '../storage/s3-metadata.ts';
import type { Store } from '../storage/store.ts';
import { MemoryReservations, RedisReservations } from '../auth/reservations.ts';
import { createAdmission } from './admission.ts';
import { createQuotas } from './quotas.ts';
import { GatewayDataStore } from './datastore.ts';
import { createInnerDatastore } from './datastores.ts';
import { tusEdge, uploadIdFromPath } from './edge.ts';
import { Finalizer } from './finalize.ts';
import { QueueLocker } from './locker.ts';
import { normalizeMetadata, objectKeyFor, parseUploadMetadata, validateUploadMetadata } from './metadata.ts';
import { FileRecordStore, type RecordStore } from './records.ts';
import { createShared } from './shared.ts';
import type { HashState } from './sha256-state.ts';
import { startSweeper } from './sweeper.ts';
import type { TusGateway, UploadStatus } from './types.ts';
import type { UploadRecord } from './upload-record.ts';

export interface TusDeps {
  config: Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
}

const errorCodeForStatus: Record<number, string> = {
  400: 'InvalidArgument', 403: 'AccessDenied', 404: 'NoSuchUpload', 409: 'Conflict', 410: 'Gone',
  412: 'PreconditionFailed', 413: 'EntityTooLarge', 415: 'UnsupportedMediaType', 423: 'Locked', 460: 'ChecksumMismatch', 500: 'InternalError',
};

/** The object's metadata on S3 will also hold `sha256` and `uploadId`: all of it must fit S3's 2 KB. */
function checkS3Metadata(metadata: Record<string, string>): void {
  const full = { ...normalizeMetadata(metadata, '0'.repeat(32)), sha256: '0'.repeat(64), uploadId: '0'.repeat(32) };
  const bytes = s3MetadataBytes(full);
  if (bytes > S3_METADATA_LIMIT) {
    throw new GatewayError('InvalidArgument', `Upload-Metadata: ${bytes} bytes as S3 metadata (with sha256 and uploadId); S3 keeps at most ${S3_METADATA_LIMIT}`);
  }
}

/** Builds the tus endpoint: datastore, locker, hooks, the edge middleware, the sweeper. */
export async function createTusGateway({ config, store, logger, metrics }: TusDeps): Promise<TusGateway> {
  const stateDir = join(config.tus.file.directory, '.gateway');
  await mkdir(stateDir, { recursive: true });
  const shared = config.redis.url ? createShared(config.redis.url) : undefined;
  const records: RecordStore<UploadRecord> = shared?.records ?? new FileRecordStore<UploadRecord>(join(stateDir, 'records'));
  // The hash state is re-derivable from the data (file) or the object (s3): no fsync per PATCH.
  const hashes: RecordStore<HashState> = shared?.hashes ?? new FileRecordStore<HashState>(join(stateDir, 'hashes'), '.json', false);

  const inner = await createInnerDatastore(config, store, shared?.s3Cache);
  const datastore = new GatewayDataStore(inner.datastore, {
    hashes, records, metrics, readRange: inner.readRange, idPrefix: inner.idPrefix, sync: inner.sync, remove: inner.remove,
  });
  const finalizer = new Finalizer({ datastore, store, records, hashes, placement: inner.placement, readAll: inner.readAll, ensureComplete: inner.ensureComplete, logger, metrics, locker: shared?.finalizeLocker });

  const admission = createAdmission({ config, store, records, reservations: shared ? new RedisReservations(shared.redis) : new MemoryReservations() });
  const withinQuota = createQuotas({ config, store, records, locker: shared?.quotaLocker ?? new QueueLocker() });

  const tus = new Server({
    path: config.tus.path,
    datastore,
    locker: shared?.locker ?? new QueueLocker(),
    maxSize: config.tus.maxSize,
    respectForwardedHeaders: config.server.trustProxy,
    exposedHeaders: ['Object-Key'],
    // The id the edge checked (from the path), never one smuggled in a query string
    // (`/files/A?x=/B`: @tus/server's default reads the end of the whole URL).
    getFileIdFromRequest: (req) => uploadIdFromPath(config.tus.path, new URL(req.url).pathname),
    allowedHeaders: ['X-HTTP-Method-Override', 'X-Request-Id'],
    // Always return an object: PostHandler reads the result without a null check (TUS-NOTES 3).
    async onUploadCreate(req, upload) {
      const metadata = normalizeMetadata(upload.metadata, upload.id);
      validateUploadMetadata(parseUploadMetadata(req.headers.get('upload-metadata') ?? undefined));
      await withinQuota(upload.id, metadata.owner!, upload.size, () =>
        records.set(upload.id, { id: upload.id, status: 'uploading', size: upload.size, metadata, createdAt: new Date().toISOString() }),
      );
      try {
        await admission.admit(upload.id, metadata);
      } catch (err) {
        await records.delete(upload.id);
        throw err;
      }
      metrics.uploadsCreated.inc();
      logger.info({ event: 'upload.created', uploadId: upload.id, size: upload.size ?? null, metadata }, 'upload created');
      return {};
    },
    async onUploadFinish(_req, upload) {
      const rec = await finalizer.finalize(upload.id);
      await admission.release(rec.key!, upload.id).catch(() => undefined); // (a stale reservation frees itself too)
      // Header values must be Latin-1: the key is percent-encoded per segment (TUS-NOTES 3).
      return { headers: { 'Object-Key': encodeKeyPath(rec.key!) } };
    },
    // Every error the tus endpoint answers is JSON, as everywhere else in the gateway.
    onResponseError(_req, err) {
      if (err instanceof Error && !('status_code' in err)) {
        const gw = toGatewayError(err);
        if (gw.status >= 500) logger.error({ err: gw.cause ?? gw }, 'tus request failed');
        return { status_code: gw.status, body: JSON.stringify(gw.toJSON()) };
      }
      const e = err as { status_code: number; body: string };
      const code = errorCodeForStatus[e.status_code] ?? (e.status_code >= 500 ? 'InternalError' : 'InvalidRequest');
      return { status_code: e.status_code, body: JSON.stringify({ error: { code, message: String(e.body).trim() } }) };
    },
  });

  const sweeper = startSweeper({ config, datastore, records, hashes, finalizer, logger, listLive: inner.listLive });

  return {
    middleware: tusEdge({
      path: config.tus.path, tus, datastore, finalizer, records, metrics, maxMetadataSize: config.tus.maxMetadataSize,
      checkNewObject: (metadata) => {
        // API.md §3's key rules hold for the object this upload will become: refuse now, not after the last byte.
        validateKey(objectKeyFor(normalizeMetadata(metadata, '0'.repeat(32))), { localfs: store.kind === 'localfs' });
        if (store.kind === 's3') checkS3Metadata(metadata);
      },
    }),
    async status(id: string): Promise<UploadStatus> {
      const rec = await records.get(id);
      if (rec?.status === 'done') {
        return { id, offset: rec.size!, length: rec.size!, status: 'done', key: rec.key, metadata: rec.metadata };
      }
      const live = await datastore.getLiveUpload(id).catch(() => undefined);
      if (!live && !rec) throw new GatewayError('NoSuchUpload', `No upload ${id}`);
      const status = finalizer.isFinalizing(id) ? 'finalizing' : (rec?.status ?? 'uploading');
      return {
        id,
        offset: live?.offset ?? 0,
        length: live?.size ?? rec?.size,
        status,
        key: rec?.key,
        metadata: rec?.metadata ?? normalizeMetadata(live?.metadata, id),
      };
    },
    reservedBy: admission.reservedBy,
    async ping() {
      await Promise.all([inner.ping(), shared?.ping()]);
    },
    async close() {
      sweeper.stop();
      await shared?.close();
    },
  };
}

