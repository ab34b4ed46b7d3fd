import type { Readable } from 'node:stream';
import { DataStore, ERRORS, Upload } from '@tus/utils';
import type { Metrics } from '../metrics.ts';
import type { TusAdapter } from './adapter.ts';
import { receiveVerified, tusRequestContext } from './checksum.ts';
import type { RecordStore } from './records.ts';
import { HashStates } from './hash-states.ts';
import { ResumableSha256, type HashState } from './sha256-state.ts';
import type { UploadRecord } from './upload-record.ts';

const CHECKPOINT_EVERY = 4 * 2 ** 20;

/**
 * Wraps a tus datastore adapter (file or s3, see adapter.ts) with what the gateway adds to it:
 * - the sha256 of every upload computed as the bytes arrive, its state saved after
 *   every PATCH so that a resume, even in another process, continues it;
 * - an id prefix (the s3 datastore keeps its objects under `storage.s3.tusPrefix`);
 * - answers for uploads already finalized (their data moved into the Store), from
 *   the gateway's durable record: @tus/server's PostHandler calls getUpload() after
 *   onUploadFinish and would answer 410 (docs/tus-server-notes.md #2).
 */
export class HashingDataStore extends DataStore {
  private readonly lengthJustDeclared = new Set<string>();
  readonly inner: DataStore; // the adapter's
  readonly hashStates: HashStates;
  constructor(
    readonly adapter: TusAdapter,
    private readonly deps: {
      hashes: RecordStore<HashState>;
      records: RecordStore<UploadRecord>;
      /** The flushes of the upload's record, still running when create() is called (index.ts). */
      recorded?: (id: string) => Promise<void> | undefined;
      metrics: Metrics;
      /** Where checksummed bodies are received before they are verified (see checksum.ts). */
      spoolDir: string;
    },
  ) {
    super();
    this.inner = adapter.datastore;
    this.hashStates = new HashStates(deps.hashes, adapter.readRange);
    this.extensions = [...this.inner.extensions, 'checksum'];
  }

  private innerId = (id: string): string => (this.adapter.idPrefix ?? '') + id;

  private outer(upload: Upload, id: string): Upload {
    return new Upload({ ...upload, id });
  }

  override async create(upload: Upload): Promise<Upload> {
    // The upload's record (onUploadCreate staged it) is made durable after the tus info is: one flush
    // of the journal (journal.ts) serves both, and recorded() finds the record flushed already. Both
    // are durable before the 201.
    const created = await this.inner.create(new Upload({ ...upload, id: this.innerId(upload.id) }));
    await this.deps.recorded?.(upload.id);
    // Only when PostHandler reads it back (in this request, before anyone has the upload's URL).
    if (this.hasExtension('expiration') && this.getExpiration() > 0) {
      this.justCreated.set(upload.id, created);
      if (this.justCreated.size > 256) this.justCreated.delete(this.justCreated.keys().next().value!);
    }
    // No state is a fresh hash where the data can be read again (HashStates.at: nothing to catch up at
    // offset 0); an empty upload is finalized at once, from the state (finalize.ts: digest).
    if (!this.adapter.readRange || upload.size === 0) await this.hashStates.store.set(upload.id, (await ResumableSha256.create()).save());
    return this.outer(created, upload.id);
  }

  override async remove(id: string): Promise<void> {
    this.justCreated.delete(id);
    await Promise.all([this.adapter.remove ? this.adapter.remove(id) : this.inner.remove(this.innerId(id)), this.hashStates.delete(id)]);
    // Termination forgets the upload; after finalization only the tus copy goes, the record stays.
    const rec = await this.deps.records.get(id);
    if (rec && rec.status !== 'done') await this.deps.records.delete(id);
  }

  /**
   * @tus/server releases the upload lock when a PATCH's body stream fails, while this
   * write may still be finishing (stream.pipeline rejects before its async destination
   * settles): whoever reads the upload next waits for it, so offsets and hash states
   * are never read half-updated.
   */
  private readonly writing = new Map<string, Promise<unknown>>();

  private async quiet(id: string): Promise<void> {
    for (let w = this.writing.get(id); w; w = this.writing.get(id)) await w.catch(() => undefined);
  }

  /**
   * What create() just made: @tus/server's PostHandler reads the upload back right after creating
   * it (for Upload-Expires), and nothing can have changed it but a write or a removal, which drop
   * it here. Answered without the datastore's read (a stat of the data file). At most one read.
   */
  private readonly justCreated = new Map<string, Upload>();

  override async getUpload(id: string): Promise<Upload> {
    await this.quiet(id);
    const created = this.justCreated.get(id);
    if (created) {
      this.justCreated.delete(id);
      return this.outer(created, id);
    }
    try {
      return this.outer(await this.inner.getUpload(this.innerId(id)), id);
    } catch (err) {
      return this.finishedUpload(id, err);
    }
  }

  /** A finalized upload, from the gateway's record (its data is in the Store now). */
  private async finishedUpload(id: string, err: unknown = ERRORS.FILE_NOT_FOUND): Promise<Upload> {
    const rec = await this.deps.records.get(id);
    if (rec?.status === 'done' && rec.size !== undefined) {
      return new Upload({ id, size: rec.size, offset: rec.size, metadata: rec.metadata, creation_date: rec.createdAt });
    }
    throw err;
  }

  /**
   * The offset each upload had when the PATCH now writing to it began: those bytes are
   * stored. @tus/s3-store's write() first downloads and deletes the incomplete part, so
   * until the next part is uploaded its getUpload() counts fewer bytes than were
   * acknowledged; a status poll must never see an offset go back.
   */
  private readonly writingFrom = new Map<string, { offset: number }>();

  /** The inner datastore's view only (no finalized fallback), never behind an acknowledged offset. */
  async getLiveUpload(id: string): Promise<Upload> {
    await this.quiet(id);
    const upload = this.outer(await this.inner.getUpload(this.innerId(id)), id);
    const floor = this.writingFrom.get(id)?.offset;
    if (floor !== undefined && (upload.offset ?? 0) < floor) upload.offset = floor;
    return upload;
  }

  override async declareUploadLength(id: string, length: number): Promise<void> {
    this.justCreated.delete(id);
    await this.inner.declareUploadLength(this.innerId(id), length);
    // PatchHandler declares a deferred length, under the upload's lock, right before write():
    // that write must reach the inner store even when empty (s3 completes its multipart there).
    this.lengthJustDeclared.add(id);
  }

  override deleteExpired(): Promise<number> {
    return this.inner.deleteExpired();
  }

  override getExpiration(): number {
    return this.inner.getExpiration();
  }

  /**
   * `known`: the upload as the caller read it under its lock (patch.ts), so that it is not read
   * again here; @tus/server's handlers pass none.
   */
  override async write(readable: Readable, id: string, offset: number, known?: Upload): Promise<number> {
    this.justCreated.delete(id);
    const request = tusRequestContext.getStore();
    if (!request?.checksum) return this.writeUnverified(readable, id, offset, known);
    let verified;
    try {
      verified = await receiveVerified(readable, request.checksum, this.deps.spoolDir);
    } catch (err) {
      // A creation-with-upload whose body failed its checksum leaves nothing behind, not even the upload.
      if (request.method === 'POST') await this.remove(id).catch(() => undefined);
      throw err;
    }
    try {
      return await this.writeUnverified(verified.open(), id, offset, known);
    } finally {
      await verified.discard();
    }
  }

  private async writeUnverified(readable: Readable, id: string, offset: number, known?: Upload): Promise<number> {
    await this.quiet(id);
    // Readers wait only for a write whose body has ended or failed (its last few ms of
    // settling), never for one still receiving: a half-dead PATCH must not hold up the
    // HEAD that comes to replace it, nor a status poll (docs/tus-server-notes.md #12, 13).
    let settled = false;
    let work: Promise<number> | undefined;
    const bodyDone = () => {
      if (!settled && work) this.writing.set(id, work);
    };
    work = this.writeNow(readable, id, offset, bodyDone, known);
    const from = { offset };
    this.writingFrom.set(id, from);
    try {
      return await work;
    } finally {
      settled = true;
      if (this.writing.get(id) === work) this.writing.delete(id);
      if (this.writingFrom.get(id) === from) this.writingFrom.delete(id);
    }
  }

  private async writeNow(readable: Readable, id: string, offset: number, bodyDone: () => void, known?: Upload): Promise<number> {
    // An empty PATCH that queued behind the final one reaches here after the upload is
    // complete (its data may already be in the Store, or s3's multipart completed):
    // there is nothing to write, and onUploadFinish joins the finalization.
    const upload = known ?? (await this.inner.getUpload(this.innerId(id)).catch(() => this.finishedUpload(id)));
    if (!this.lengthJustDeclared.delete(id) && upload.size !== undefined && offset >= upload.size) {
      readable.resume();
      return offset;
    }
    const hash = await this.hashStates.at(id, offset);
    const checkpoints: HashState[] = hash ? [hash.save()] : [];
    if (hash) {
      hash.afterBatch = () => {
        if (hash.offset - checkpoints[checkpoints.length - 1]!.offset >= CHECKPOINT_EVERY) {
          checkpoints.push(hash.save());
          // The disk trails the hash by at most the backlog: older checkpoints are never needed.
          if (checkpoints.length > 16) checkpoints.shift();
        }
      };
    }
    for (const event of ['end', 'close', 'error']) readable.once(event, bodyDone);
    const received = this.deps.metrics.bytesReceived; // the bytes stored, counted once the write settles
    let newOffset: number;
    try {
      // The adapter writes and hashes in one pass (file: batch-writer.ts; s3: s3-parts.ts), durable when it resolves.
      newOffset = await this.adapter.writeHashed(readable, id, offset, hash);
    } catch (err) {
      const actual = await this.inner.getUpload(this.innerId(id)).then((u) => u.offset, () => undefined);
      if (actual !== undefined && actual > offset) received.inc(actual - offset);
      await this.hashStates.settle(id, hash, checkpoints, actual, upload.size);
      throw err;
    }
    received.inc(newOffset - offset);
    await this.hashStates.settle(id, hash, checkpoints, newOffset, upload.size);
    return newOffset;
  }
}
