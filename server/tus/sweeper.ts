import type { Config } from '../config.ts';
import type { Hooks } from '../hooks/index.ts';
import type { Logger } from '../logger.ts';
import type { HashingDataStore } from './hashing-datastore.ts';
import type { Finalizer } from './finalize.ts';
import { normalizeMetadata, objectKeyFor } from './metadata.ts';
import type { RecordStore } from './records.ts';
import type { HashState } from './sha256-state.ts';
import type { UploadRecord } from './upload-record.ts';

export interface SweeperDeps {
  config: Config;
  datastore: HashingDataStore;
  records: RecordStore<UploadRecord>;
  hashes: RecordStore<HashState>;
  finalizer: Finalizer;
  logger: Logger;
  /** Upload ids the datastore holds, where it can list them (file); the s3 datastore expires its own. */
  listLive?: () => Promise<string[]>;
  hooks?: Pick<Hooks, 'emit'>;
}

/**
 * Housekeeping, once at start-up and every `tus.cleanupInterval`:
 * - uploads whose last byte arrived but were never finalized (the process died) are finalized;
 * - incomplete uploads older than `tus.expiration` are removed (@tus/file-store's own
 *   deleteExpired compares against an offset that stays 0 — docs/tus-server-notes.md #9);
 * - records of finished uploads are forgotten `tus.expiration` after they finished.
 */
export function startSweeper(deps: SweeperDeps): { stop(): void; sweep(): Promise<void> } {
  const sweep = () => sweepOnce(deps).catch((err) => deps.logger.error({ err }, 'sweep failed'));
  const first = setTimeout(sweep, 0);
  const timer = setInterval(sweep, deps.config.tus.cleanupInterval);
  timer.unref();
  first.unref();
  return {
    stop() {
      clearTimeout(first);
      clearInterval(timer);
    },
    sweep: () => sweepOnce(deps),
  };
}

export async function sweepOnce({ config, datastore, records, hashes, finalizer, logger, listLive, hooks }: SweeperDeps): Promise<void> {
  const now = Date.now();
  const ttl = config.tus.expiration;
  const ids = new Set(await records.list());
  for (const id of (await listLive?.()) ?? []) ids.add(id);
  for (const id of ids) {
    const rec = await records.get(id);
    if (rec?.status === 'done') {
      // Leftovers first: without its record, a finished upload's tus copy would look unfinalized.
      await finalizer.removeTusCopy(id);
      if (Date.parse(rec.finishedAt ?? rec.createdAt) + ttl < now) await records.delete(id);
      continue;
    }
    const live = await datastore.getLiveUpload(id).catch(() => undefined);
    if (live && live.size !== undefined && live.offset === live.size) {
      try {
        await finalizer.finalize(id);
        logger.info({ event: 'upload.recovered', uploadId: id }, 'finalized an upload left complete but unfinalized');
        continue;
      } catch (err) {
        logger.error({ event: 'upload.recover_failed', uploadId: id, err }, 'could not finalize a complete upload');
        // It is tried again at each sweep until it expires like any upload that did not make it.
      }
    }
    const created = Date.parse(live?.creation_date ?? rec?.createdAt ?? '') || now;
    if (created + ttl < now) {
      // Recorded first: a crash before the removal expires it (and records the same event) again at the next sweep.
      const metadata = rec?.metadata ?? normalizeMetadata(live?.metadata, id);
      await hooks?.emit('upload.expired', {
        uploadId: id, key: objectKeyFor(metadata), owner: metadata.owner, size: live?.size ?? rec?.size ?? null, offset: live?.offset ?? 0, metadata,
      }, `upload.expired:${id}`);
      await datastore.remove(id).catch(() => undefined);
      await hashes.delete(id);
      await records.delete(id);
      logger.info({ event: 'upload.expired', uploadId: id }, 'removed an expired incomplete upload');
    }
  }
  // Not @tus/s3-store's deleteExpired(): it aborts multipart uploads but leaves them in its
  // upload-info cache, after which getUpload() reports them complete. Every upload made
  // through the gateway has a record and is expired above; for multipart uploads left
  // without one, a bucket lifecycle rule (AbortIncompleteMultipartUpload) is the tool.
}
