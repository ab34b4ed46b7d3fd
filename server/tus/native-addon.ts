import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.ts';

/**
 * native/sha256, built by `npm run build:native` on install (undefined when it was not:
 * the callers then use hash-wasm and node:fs, slower but the same results).
 */
export interface NativeAddon {
  stateSize: number;
  init(state: Buffer): void;
  update(state: Buffer, chunk: Uint8Array): void;
  /** The same update on a libuv pool thread: the event loop's core stays free for the upload. */
  updateAsync(state: Buffer, chunks: Uint8Array[]): Promise<void>;
  final(state: Buffer): Buffer;
  /**
   * One pool job: pwritev of `chunks` at `position`, SHA256_Update of exactly the bytes
   * written (state null: none), writeback started for them, and writeback of
   * [waitFrom, waitTo) waited for. Resolves with the bytes written; rejects with
   * `{ code, errno, written }` when a write fails after `written` bytes.
   */
  writeAsync(state: Buffer | null, fd: number, position: number, chunks: Uint8Array[], waitFrom: number, waitTo: number): Promise<number>;
  /** fdatasync of every fd in one pool job (writeback started for all first); an Error or null per fd. */
  flushAsync(fds: number[]): Promise<(NodeJS.ErrnoException | null)[]>;
  /**
   * One pool job each (file_ops.c): create or truncate `path` (`exclusive`: create only, O_EXCL),
   * write `data`, fdatasync when `flush`, close; and a directory's fsync. Reject with
   * `{ code, errno, path }`. Absent from an addon built before they existed (node:fs is used then).
   */
  writeFileAsync?(path: string, data: Buffer, flush: boolean, exclusive: boolean): Promise<void>;
  syncDirAsync?(path: string): Promise<void>;
  /** Bytes from `buffer`'s start to its first `align`-aligned address (write_batch.c). Absent from an addon built before it existed. */
  alignSkip?(buffer: Uint8Array, align: number): number;
  /** glibc's malloc_trim(0) (trim.c); false elsewhere. Absent from an addon built before it existed. */
  trimMemory?(): boolean;
}

export const native: NativeAddon | undefined = (() => {
  try {
    const addon = createRequire(import.meta.url)(join(PACKAGE_ROOT, 'native/sha256/build/Release/sha256_state.node')) as NativeAddon;
    // An addon built before writeAsync existed counts as none for the write path (see batch-writer.ts).
    return addon;
  } catch {
    return undefined;
  }
})();
