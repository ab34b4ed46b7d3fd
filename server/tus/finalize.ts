import { Readable } from 'node:stream';
import type { Locker, Upload } from '@tus/utils';
import { GatewayError, errors, toGatewayError } from '../errors.ts';
import type { Hooks } from '../hooks/index.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Store } from '../storage/store.ts';
import type { TusAdapter } from './adapter.ts';
import type { HashingDataStore } from './hashing-datastore.ts';
import { contentTypeFor, normalizeMetadata, objectKeyFor } from './metadata.ts';
import type { RecordStore } from './records.ts';
import { ResumableSha256 } from './sha256-state.ts';
import type { UploadRecord } from './upload-record.ts';

export interface FinalizerDeps {
  datastore: HashingDataStore;
  store: Store;
  records: RecordStore<UploadRecord>;
  /** How the bytes become an object, how they are read again, how they are completed. */
  adapter: Pick<TusAdapter, 'placement' | 'readAll' | 'ensureComplete'>;
  logger: Logger;
  metrics: Metrics;
  /** With several instances: a shared locker, so that only one of them finalizes an upload. */
  locker?: Locker;
  /** Where `upload.finished` / `upload.failed` are recorded before the final PATCH is answered. */
  hooks?: Pick<Hooks, 'emit'>;
}

/**
 * Turns a complete upload into `models/{owner}/{filename}` in the Store.
 *
 * Idempotent per upload id: in-process by sharing one promise per id; across
 * crashes because every step can be done again — the tus data stays where it is
 * (a hard link or a copy is placed, never the only copy moved) until the record
 * says `done`, and only then is it removed. A second call after `done` returns the
 * record: "Finalizing twice never happens" (docs/api.md §2).
 */
export class Finalizer {
  private readonly inflight = new Map<string, Promise<UploadRecord>>();
  /** Removals of finalized uploads' tus copies still running after their answer (see run()). */
  private readonly removing = new Map<string, Promise<void>>();

  constructor(private readonly deps: FinalizerDeps) {}

  /** Whether this process is finalizing `id` right now. */
  isFinalizing(id: string): boolean {
    return this.inflight.has(id);
  }

  /** `known`: the upload as the request that completed it left it (not read again when complete). */
  finalize(id: string, known?: Upload): Promise<UploadRecord> {
    let p = this.inflight.get(id);
    if (!p) {
      p = this.exclusive(id, known).finally(() => {
        this.inflight.delete(id);
        this.deps.datastore.hashStates.finalized(id);
      });
      this.inflight.set(id, p);
    }
    return p;
  }

  /** Across instances: one finalization at a time per id; the next one finds the record `done`. */
  private async exclusive(id: string, known?: Upload): Promise<UploadRecord> {
    if (!this.deps.locker) return this.run(id, known);
    const lock = this.deps.locker.newLock(`finalize:${id}`);
    // Finalizing a 10 GB s3 upload by copy can take minutes: nobody may take it over meanwhile.
    await lock.lock(new AbortController().signal, () => undefined);
    try {
      return await this.run(id, known);
    } finally {
      await lock.unlock();
    }
  }

  private async run(id: string, known?: Upload): Promise<UploadRecord> {
    const { records, datastore, store, logger, metrics } = this.deps;
    const existing = await records.get(id);
    if (existing?.status === 'done') {
      // A crash (or a failed remove) after `done` can leave the tus copy: it must never be finalized again.
      await this.removeTusCopy(id);
      return existing;
    }
    const started = process.hrtime.bigint();
    const upload = known?.size !== undefined && known.offset === known.size ? known : await datastore.getLiveUpload(id);
    if (upload.size === undefined || upload.offset !== upload.size) {
      throw errors.conflict(`upload ${id} is not complete (${upload.offset} of ${upload.size ?? '?'} bytes)`);
    }
    const metadata = normalizeMetadata(upload.metadata, id);
    const key = objectKeyFor(metadata);
    let record: UploadRecord = {
      ...(existing ?? { createdAt: upload.creation_date ?? new Date().toISOString() }),
      id,
      status: 'finalizing',
      size: upload.size,
      key,
      metadata,
    };
    // Not flushed: lost in a power cut, the record says `uploading` again, the data is still
    // there (it goes only after `done`), and finalization simply runs again. Written while the
    // digest is taken; in place before anything reaches the Store.
    const finalizing = records.set(id, record, { durable: false });
    finalizing.catch(() => undefined); // (awaited below; a failure fails the finalization there)
    try {
      await this.deps.adapter.ensureComplete?.(id, upload.size);
      const sha256 = await this.digest(id, upload.size);
      checkDeclaredDigest(metadata, sha256);
      const objectMetadata = { ...metadata, sha256, uploadId: id };
      const size = upload.size;
      const placed = (async () => {
        await finalizing;
        await this.place(id, key, size, contentTypeFor(metadata), objectMetadata, sha256);
        // Before `done`: a crash in between finalizes again and records the same event (same webhook-id), never none.
        await this.deps.hooks?.emit(
          'upload.finished',
          { uploadId: id, key, size, sha256, owner: metadata.owner, metadata },
          `upload.finished:${id}`,
        );
      })();
      // `done` is written and flushed beside the placement, and replaces the record only once the
      // object and its event are durable (`after`): only its rename and directory flush come after them.
      const done: UploadRecord = { ...record, status: 'done', sha256, finishedAt: new Date().toISOString(), error: undefined };
      await Promise.all([placed, records.set(id, done, { after: placed })]);
      record = done;
    } catch (err) {
      const gw = toGatewayError(err);
      await this.failed(record, gw);
      throw gw;
    }
    // The object is safe and recorded: the tus copy (read above) can go, after the answer. The
    // client needs the object, its record and its event, all durable now; not the clean-up (s3:
    // a DeleteObjects, ~18 ms of a 128 MiB upload's ~0.65 s). A crash before it lands leaves a
    // copy that a record says `done`: the sweeper, or the next finalize() of the id, removes it.
    this.removeAfterAnswer(id);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.finalizeDuration.observe(seconds);
    metrics.uploadsFinished.inc();
    logger.info({ event: 'upload.finalized', uploadId: id, key, size: record.size, sha256: record.sha256, seconds }, 'upload finalized');
    return record;
  }

  /**
   * The one place an upload becomes `failed`: its record says why (GET /api/uploads/{id}),
   * and the `upload.failed` log event carries the reason (the hook for an event, too).
   */
  private async failed(record: UploadRecord, gw: GatewayError): Promise<void> {
    const { logger, metrics, records } = this.deps;
    const reason = gw.message;
    logger.error({ event: 'upload.failed', uploadId: record.id, key: record.key, code: gw.code, reason, err: gw.cause ?? gw }, 'finalization failed');
    metrics.uploadsFailed.inc();
    await this.deps.hooks
      ?.emit('upload.failed', { uploadId: record.id, key: record.key, size: record.size, owner: record.metadata.owner, metadata: record.metadata, reason })
      .catch((e) => logger.error({ uploadId: record.id, err: e }, 'could not record upload.failed'));
    await records.set(record.id, { ...record, status: 'failed', error: reason }).catch(() => undefined);
  }

  private removeAfterAnswer(id: string): void {
    const removal = this.removeTusCopy(id, true)
      .catch((err: unknown) => void this.deps.logger.warn({ uploadId: id, err }, 'could not remove finalized tus data'))
      .finally(() => this.removing.delete(id));
    this.removing.set(id, removal);
  }

  /** Waits for the removals still running (shutdown: before the records and the journal close). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.removing.values()]);
  }

  /** Removes the tus datastore's copy of a finalized upload, if any is left (the record stays); joins a removal under way. */
  async removeTusCopy(id: string, live?: boolean): Promise<void> {
    const underWay = this.removing.get(id);
    if (underWay) return underWay;
    live ??= await this.deps.datastore.getLiveUpload(id).then(() => true, () => false);
    if (live) {
      // remove() takes the hash state too: unless it fails, there is nothing left to delete.
      const removed = await this.deps.datastore.remove(id).then(
        () => true,
        (err) => this.deps.logger.warn({ uploadId: id, err }, 'could not remove finalized tus data'),
      );
      if (removed) return;
    }
    await this.deps.datastore.hashStates.delete(id).catch(() => undefined);
  }

  /** The sha256 from the state kept as the bytes arrived; the data is read again only when that state is lost. */
  private async digest(id: string, size: number): Promise<string> {
    const saved = await this.deps.datastore.hashStates.forDigest(id);
    const restored = saved?.offset === size ? await ResumableSha256.restore(saved) : undefined;
    if (restored) return restored.digest();
    this.deps.logger.warn({ event: 'upload.rehash', uploadId: id, stateOffset: saved?.offset ?? null, size }, 'hash state lost: reading the upload again');
    const hash = await ResumableSha256.create();
    for await (const chunk of await this.deps.adapter.readAll(id)) {
      hash.update(chunk as Buffer);
      if (hash.behind) await hash.settled();
    }
    await hash.settled();
    if (hash.offset !== size) throw errors.internal(`upload ${id}: read ${hash.offset} bytes, expected ${size}`);
    return hash.digest();
  }

  private async place(id: string, key: string, size: number, contentType: string, metadata: Record<string, string>, sha256: string) {
    const { store } = this.deps;
    const { placement } = this.deps.adapter;
    if (size === 0) {
      // @tus/s3-store never completes a multipart upload without parts: there is no tus object to copy.
      await store.put(key, Readable.from([]), { size: 0, contentType, metadata });
    } else if (placement.kind === 'link') {
      // The object is another hard link to the tus data: the bytes keep their tus name until the
      // record says `done` (the Store links them into its temporary directory, then commits).
      await placement.importFile(placement.dataPath(id), key, { size, contentType, metadata, sha256, keepSource: true });
    } else if (placement.kind === 'copy') {
      await store.copy(placement.sourceKey(id), key, { metadata, contentType });
    } else {
      const body = await placement.read(id);
      try {
        await store.put(key, body, { size, contentType, metadata });
      } finally {
        body.destroy(); // put leaves a refused body open; never leak the datastore's stream
      }
    }
  }
}

/**
 * "Upload-Metadata `sha256` … is checked against the computed digest at finalization; a
 * mismatch → the final request gets 460 ChecksumMismatch, no object is created or replaced."
 */
function checkDeclaredDigest(metadata: Record<string, string>, sha256: string): void {
  const declared = metadata.sha256;
  if (declared && declared.toLowerCase() !== sha256) {
    throw errors.checksumMismatch(`the upload's sha256 is ${sha256}, not the declared ${declared.toLowerCase()}: no object was stored`);
  }
}
