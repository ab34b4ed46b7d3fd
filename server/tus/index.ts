import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EVENTS } from '@tus/server';
import type { Upload } from '@tus/utils';
import { errors, toGatewayError } from '../errors.ts';
import { ALLOWED_HEADERS, EXPOSED_HEADERS } from '../http/cors.ts';
import { originMatcher } from '../http/cors-origins.ts';
import { forwardedPrefix } from '../http/forwarded.ts';
import type { Config } from '../config.ts';
import type { Hooks } from '../hooks/index.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { encodeKeyPath } from '../storage/keys.ts';
import type { Store } from '../storage/store.ts';
import { prepareSpool } from './checksum.ts';
import { HashingDataStore } from './hashing-datastore.ts';
import { createTusAdapter } from './datastores.ts';
import { MemoryReservations, RedisReservations } from '../auth/reservations.ts';
import { createAdmission } from './admission.ts';
import { createQuotas } from './quotas.ts';
import { tusEdge, uploadIdFromPath } from './edge.ts';
import { creatorScopes } from './upload-access.ts';
import { JsonErrorServer } from './json-errors.ts';
import { LOCK_DRAIN_MS } from './patch.ts';
import { uploadLocation } from './location.ts';
import { Finalizer } from './finalize.ts';
import { QueueLocker } from './locker.ts';
import { normalizeMetadata, objectKeyFor, parseUploadMetadata, validateUploadMetadata } from './metadata.ts';
import { Journal } from './journal.ts';
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
  hooks: Hooks;
}

/** Builds the tus endpoint: datastore, locker, hooks, the edge middleware, the sweeper. */
export async function createTusGateway({ config, store, logger, metrics, hooks }: TusDeps): Promise<TusGateway> {
  const stateDir = join(config.tus.file.directory, '.gateway');
  await mkdir(stateDir, { recursive: true });
  const shared = config.redis.url ? await createShared(config.redis.url, logger, metrics) : undefined;
  // Upload records (without Redis) and the file datastore's upload infos: one log, one flush for both (journal.ts).
  const fileInfos = config.tus.datastore === 'file';
  const journal =
    shared && !fileInfos
      ? undefined
      : await Journal.open(join(stateDir, 'journal'), [
          // Where earlier versions kept them, one file each.
          ...(shared ? [] : [{ namespace: 'records', dir: join(stateDir, 'records'), suffix: '.json' }]),
          ...(fileInfos ? [{ namespace: 'infos', dir: config.tus.file.directory, suffix: '.json' }] : []),
        ]);
  const records: RecordStore<UploadRecord> = shared?.records ?? journal!.store<UploadRecord>('records');
  // The hash state is re-derivable from the data (file) or the object (s3): no fsync per PATCH.
  const hashes: RecordStore<HashState> = shared?.hashes ?? new FileRecordStore<HashState>(join(stateDir, 'hashes'), '.json', false);

  const adapter = await createTusAdapter(config, store, { s3Cache: shared?.s3Cache, metrics, infos: journal?.store('infos') });
  // Upload records being flushed, from onUploadCreate (which writes them) to the datastore's create() (which awaits them).
  const recording = new Map<string, () => Promise<void>>();
  const recorded = (id: string) => {
    const durable = recording.get(id);
    recording.delete(id);
    return durable?.();
  };
  const datastore = new HashingDataStore(adapter, { hashes, records, recorded, metrics, spoolDir: await prepareSpool(join(stateDir, 'spool')) });
  const finalizer = new Finalizer({ datastore, store, records, adapter, logger, metrics, locker: shared?.finalizeLocker, hooks });
  // The key rules hold for the object this upload will become: refuse at creation, not after the last byte
  // (also for the metadata a preCreate hook merged in).
  // The object will also carry `sha256` and `uploadId` (finalize.ts): the Store judges the metadata with them.
  const checkNewObject = (metadata: Record<string, string>) => {
    const kept = normalizeMetadata(metadata, '0'.repeat(32));
    store.checkNewObject(objectKeyFor(kept), { ...kept, sha256: '0'.repeat(64), uploadId: '0'.repeat(32) });
  };

  const admission = createAdmission({ config, store, records, reservations: shared ? new RedisReservations(shared.redis) : new MemoryReservations() });
  const withinQuota = createQuotas({ config, store, records, locker: shared?.quotaLocker ?? new QueueLocker() });

  const locker = shared?.locker ?? new QueueLocker(30_000, (s) => metrics.lockWait.observe({ locker: 'queue' }, s));
  async function onUploadFinish(upload: Upload) {
    const rec = await finalizer.finalize(upload.id, upload);
    await admission.release(rec.key!, upload.id).catch(() => undefined); // (a stale reservation frees itself too)
    // Header values must be Latin-1: the key is percent-encoded per segment (docs/tus-server-notes.md #3).
    return { headers: { 'Object-Key': encodeKeyPath(rec.key!) } };
  }
  // A gateway error keeps its code and status; @tus/server's own (status and text) are made JSON by JsonErrorServer.
  function errorAnswer(err: unknown) {
    if (err instanceof Error && !('status_code' in err)) {
      const gw = toGatewayError(err);
      if (gw.status >= 500) logger.error({ err: gw.cause ?? gw }, 'tus request failed');
      return { status_code: gw.status, body: JSON.stringify(gw.toJSON()) };
    }
    const gw = errors.fromTus(err as { status_code: number; body: string });
    return { status_code: gw.status, body: JSON.stringify(gw.toJSON()) };
  }

  const tus = new JsonErrorServer({
    path: config.tus.path,
    datastore: announcingTermination(datastore, hooks),
    locker,
    lockDrainTimeout: LOCK_DRAIN_MS,
    maxSize: config.tus.maxSize,
    respectForwardedHeaders: config.server.trustProxy,
    // The Host header never decides an answer: Location comes from publicUrl, or from the forwarded
    // headers of a trusted proxy (@tus/server reads X-Forwarded-Proto/-Host itself; the prefix it does not know).
    generateUrl: (req, { proto, host, path, id }) =>
      uploadLocation(config.server, {
        proto, host, path, id,
        prefix: config.server.trustProxy ? forwardedPrefix(req.headers.get('x-forwarded-prefix')) : '',
      }),
    // @tus/server sets its own CORS headers on its answers: the same lists as the rest of the gateway.
    exposedHeaders: EXPOSED_HEADERS,
    // The same origins as every other route (server.cors.origins); unset, @tus/server answers "*" to anyone.
    allowedOrigins: originMatcher(config.server.cors.origins),
    // The id the edge checked (from the path), never one smuggled in a query string
    // (`/files/A?x=/B`: @tus/server's default reads the end of the whole URL).
    getFileIdFromRequest: (req) => uploadIdFromPath(config.tus.path, new URL(req.url).pathname),
    allowedHeaders: ALLOWED_HEADERS,
    // Always return an object: PostHandler reads the result without a null check (docs/tus-server-notes.md #3).
    async onUploadCreate(req, upload) {
      const client = parseUploadMetadata(req.headers.get('upload-metadata') ?? undefined);
      validateUploadMetadata(client);
      const asked = normalizeMetadata(client, upload.id);
      // The operator's hook decides before anything exists (PostHandler creates the upload after this returns).
      const merged = await hooks.preCreate({ owner: asked.owner!, scopes: creatorScopes(req), key: objectKeyFor(asked), size: upload.size ?? null, metadata: client });
      try {
        validateUploadMetadata(merged);
        checkNewObject(merged);
      } catch (err) {
        throw errors.hookUnavailable(`its metadata makes an invalid upload: ${(err as Error).message}`, err);
      }
      const metadata = normalizeMetadata(merged, upload.id);
      // docs/api.md §7: quotas and the overwrite/reservation rule, before the upload is announced.
      // The record counts (quotas, admission) once staged; its flushes overlap what follows and the
      // tus info's (HashingDataStore.create awaits them: the 201 comes after both are durable).
      let durable = () => Promise.resolve();
      await withinQuota(upload.id, metadata.owner!, upload.size, async () => {
        ({ durable } = await records.stage(upload.id, { id: upload.id, status: 'uploading', size: upload.size, metadata, createdAt: new Date().toISOString() }));
      });
      try {
        await admission.admit(upload.id, metadata);
      } catch (err) {
        await records.delete(upload.id);
        throw err;
      }
      const key = objectKeyFor(metadata);
      await hooks.emit('upload.created', { uploadId: upload.id, key, size: upload.size ?? null, owner: metadata.owner, metadata }, `upload.created:${upload.id}`);
      recording.set(upload.id, durable);
      metrics.uploadsCreated.inc();
      logger.info({ event: 'upload.created', uploadId: upload.id, size: upload.size ?? null, metadata }, 'upload created');
      return { metadata: merged };
    },
    onUploadFinish: (_req, upload) => onUploadFinish(upload),
    onResponseError: (_req, err) => errorAnswer(err),
  });

  tus.on(EVENTS.POST_TERMINATE, () => metrics.uploadsTerminated.inc());

  const sweeper = startSweeper({ config, datastore, records, hashes, finalizer, logger, listLive: adapter.listLive, hooks });

  return {
    middleware: tusEdge({
      path: config.tus.path, tus, datastore, finalizer, records, metrics, maxMetadataSize: config.tus.maxMetadataSize,
      patch: { datastore, locker, maxSize: config.tus.maxSize, onUploadFinish, errorAnswer },
      publicUrl: config.server.publicUrl,
      checkNewObject,
    }),
    async status(id: string): Promise<UploadStatus> {
      // The datastore first, the record second: finalization marks the record 'finalizing'
      // before it moves the data into the Store, so when the data is gone the record read
      // after it says why. (Read the other way round, a poll between the two saw offset 0.)
      const live = await datastore.getLiveUpload(id).catch((err: { status_code?: number }) => {
        if (err?.status_code === 404 || err?.status_code === 410) return undefined;
        throw err;
      });
      const rec = await records.get(id);
      if (rec?.status === 'done') {
        return { id, offset: rec.size!, length: rec.size!, status: 'done', key: rec.key, metadata: rec.metadata };
      }
      if (!live && !rec) throw errors.noSuchUpload(`No upload ${id}`);
      const status = finalizer.isFinalizing(id) ? 'finalizing' : (rec?.status ?? 'uploading');
      // Finalizing or failed: every byte arrived (finalization starts at offset == length).
      const complete = (status === 'finalizing' || status === 'failed') && rec?.size !== undefined;
      return {
        id,
        offset: complete ? rec.size! : (live?.offset ?? 0),
        length: live?.size ?? rec?.size,
        status,
        key: rec?.key,
        ...(status === 'failed' && rec?.error ? { error: rec.error } : {}),
        metadata: rec?.metadata ?? normalizeMetadata(live?.metadata, id),
      };
    },
    reservedBy: admission.reservedBy,
    async ping() {
      journal?.check();
      await Promise.all([adapter.ping(), shared?.ping()]);
    },
    async close() {
      sweeper.stop();
      await finalizer.drain();
      await shared?.close();
      await journal?.close();
    },
  };
}

/**
 * The datastore as @tus/server sees it, with `upload.terminated` recorded before a
 * client's DELETE removes an upload. Only DeleteHandler calls remove() through this
 * view (the sweeper and the finalizer hold the datastore itself, and their removals
 * are not terminations); @tus/server has no awaited hook for termination, its
 * POST_TERMINATE event fires after the answer is written.
 */
function announcingTermination(datastore: HashingDataStore, hooks: Hooks): HashingDataStore {
  const remove = async (id: string) => {
    const live = await datastore.getLiveUpload(id).catch(() => undefined);
    if (live) {
      const metadata = normalizeMetadata(live.metadata, id);
      await hooks.emit('upload.terminated', {
        uploadId: id, key: objectKeyFor(metadata), owner: metadata.owner, size: live.size ?? null, offset: live.offset, metadata,
      }, `upload.terminated:${id}`);
    }
    await datastore.remove(id);
  };
  return new Proxy(datastore, {
    get(target, prop) {
      if (prop === 'remove') return remove;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
