import type { TusAdapter } from './adapter.ts';
import type { RecordStore } from './records.ts';
import { ResumableSha256, type HashState } from './sha256-state.ts';

/** A complete upload's state is saved from this size on; below it, reading the data again is cheap (~50 ms). */
const SAVE_COMPLETE_FROM = 64 * 2 ** 20;

/**
 * The sha256 state of each upload, saved after every PATCH so that a resume, even in another
 * process, continues it (HashingDataStore), and read once more by finalization (finalize.ts).
 */
export class HashStates {
  /**
   * The state of each upload whose last byte this process hashed, for its finalization (which
   * follows at once): read from here, not from the store. Forgotten when finalization ends.
   */
  private readonly complete = new Map<string, HashState>();

  constructor(
    readonly store: RecordStore<HashState>,
    private readonly readRange: TusAdapter['readRange'],
  ) {}

  /** A hasher that has seen exactly bytes [0, offset), or undefined when that cannot be had cheaply. */
  async at(id: string, offset: number): Promise<ResumableSha256 | undefined> {
    // Nothing to continue before the first byte: no read of a state that is not there yet.
    if (offset === 0) return ResumableSha256.create();
    const saved = await this.store.get(id).catch(() => undefined); // unreadable (torn by a power cut) = lost
    const restored = saved && saved.offset <= offset ? await ResumableSha256.restore(saved) : undefined;
    if (restored?.offset === offset) return restored;
    if (!this.readRange) return undefined; // s3: finalization reads the object once instead
    // The state is behind (a crash between the write and the save) or lost: catch up from the data.
    const hash = restored ?? (await ResumableSha256.create());
    return (await this.catchUp(id, hash, offset)) ? hash : undefined;
  }

  private async catchUp(id: string, hash: ResumableSha256, to: number): Promise<boolean> {
    if (hash.offset === to) return true;
    const stream = this.readRange?.(id, hash.offset, to);
    if (!stream) return false;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      if (hash.behind) await hash.settled();
    }
    await hash.settled();
    return hash.offset === to;
  }

  /**
   * After a write that left `actual` bytes stored (undefined: unknown) of an upload of `size`:
   * keep the hash state if it matches them, else roll back to a checkpoint.
   */
  async settle(id: string, hash: ResumableSha256 | undefined, checkpoints: HashState[], actual: number | undefined, size: number | undefined): Promise<void> {
    if (hash) {
      hash.afterBatch = undefined;
      const ok = await hash.settled().then(() => true, () => false);
      if (!ok) hash = undefined;
    }
    if (!hash || actual === undefined) return this.store.delete(id);
    if (actual === hash.offset) {
      const state = hash.save();
      if (actual !== size) return this.store.set(id, state);
      // Complete: finalization, which follows at once, takes the state from memory. Saved too
      // only for an upload big enough that reading it again after a crash would cost more than
      // the save (each saved state is a file created and deleted: on ext4 without a journal, every
      // creation scans past the inodes freed in the last minute, ~15% of a small upload's CPU here).
      // Not waited for: the store orders the key's writes and deletes (finalization's delete
      // comes after it); a crash before it lands leaves an older state, and the data is read again.
      this.complete.set(id, state);
      if (size >= SAVE_COMPLETE_FROM) void this.store.set(id, state).catch(() => undefined);
      return;
    }
    // Bytes hashed but not stored (the connection dropped mid-write): back up to the last checkpoint at or before `actual`.
    const cp = checkpoints.filter((c) => c.offset <= actual).pop();
    if (cp) {
      const back = await ResumableSha256.restore(cp);
      if (back && (await this.catchUp(id, back, actual))) return this.store.set(id, back.save());
      if (cp.offset > 0) return this.store.set(id, cp); // behind: the next write catches up (file) or finalize re-reads (s3)
    }
    return this.store.delete(id);
  }

  /** The state finalization digests: this process's of the last byte, else the saved one (unreadable = none). */
  async forDigest(id: string): Promise<HashState | undefined> {
    return this.complete.get(id) ?? (await this.store.get(id).catch(() => undefined));
  }

  /** Finalization of `id` is over (done or failed): its state is no longer needed in memory. */
  finalized(id: string): void {
    this.complete.delete(id);
  }

  async delete(id: string): Promise<void> {
    this.complete.delete(id);
    await this.store.delete(id);
  }
}
