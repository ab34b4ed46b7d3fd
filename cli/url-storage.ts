import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { PreviousUpload, UrlStorage } from 'tus-js-client';
import { readState, removeState, writeState } from './state-file.ts';

/**
 * tus-js-client's URL storage on disk: one small JSON file per fingerprint under `dir`.
 * Not the library's own FileUrlStorage: that one rewrites a single shared file in place
 * (`writeFile` with flag 'w'), so a process killed mid-write leaves torn JSON and every later
 * run fails to parse it. Here each write is a rename, and parallel uploads (or two processes)
 * never touch each other's file, so no lock is needed.
 */
export class FileUrlStorage implements UrlStorage {
  constructor(private readonly dir: string) {}

  private fileFor(fingerprint: string): string {
    return join(this.dir, `${createHash('sha256').update(fingerprint).digest('hex').slice(0, 32)}.json`);
  }

  async findAllUploads(): Promise<PreviousUpload[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const found = await Promise.all(names.filter((n) => n.endsWith('.json')).map((n) => readState<PreviousUpload>(join(this.dir, n))));
    return found.filter((u): u is PreviousUpload => u !== undefined);
  }

  async findUploadsByFingerprint(fingerprint: string): Promise<PreviousUpload[]> {
    const upload = await readState<PreviousUpload & { fingerprint?: string }>(this.fileFor(fingerprint));
    return upload && upload.fingerprint === fingerprint ? [upload] : [];
  }

  async removeUpload(urlStorageKey: string): Promise<void> {
    await removeState(urlStorageKey);
  }

  /** One upload per fingerprint: a new one replaces the last (the old URL cannot be resumed with this file anyway). */
  async addUpload(fingerprint: string, upload: PreviousUpload): Promise<string> {
    const path = this.fileFor(fingerprint);
    await writeState(path, { ...upload, fingerprint, urlStorageKey: path });
    return path;
  }
}
