import type { MetadataValue } from '@tus/s3-store';
import { TUS_RESUMABLE, Upload } from '@tus/utils';
import { ContiguousPartsS3Store } from './s3-contiguous-parts.ts';

/** Set on the cached metadata of an upload no write has begun on (JSON-safe: the cache may be Redis). */
const FRESH = 'gateway-fresh';
type Cached = MetadataValue & { [FRESH]?: true };

/**
 * An upload just created has no part and no `.part`: its offset is 0 without asking S3. The
 * original neither caches the `.info` it writes at creation (the first PATCH GETs it back) nor
 * knows that nothing was written since (it lists the parts and HEADs the `.part`, ~20 ms on the
 * test RGW, before the first byte of every upload).
 *
 * create() caches the metadata it saved, marked fresh; the first write() clears the mark, in
 * the cache, before it sends a byte (BufferedS3Store, s3-parts.ts). The cache is the one every
 * instance shares (Redis, when configured), so no instance reads a stale mark; an entry that is
 * gone (a restart with the in-memory cache) reads the `.info` again, unmarked, and lists.
 */
export class FreshUploadsS3Store extends ContiguousPartsS3Store {
  private readonly creating = new WeakSet<Upload>();

  override async create(upload: Upload): Promise<Upload> {
    // saveMetadata is also called by declareUploadLength: only creation's call caches fresh.
    this.creating.add(upload);
    try {
      return await super.create(upload);
    } finally {
      this.creating.delete(upload);
    }
  }

  protected override async saveMetadata(upload: Upload, uploadId: string): Promise<void> {
    await super.saveMetadata(upload, uploadId);
    if (!this.creating.has(upload)) return;
    const cached: Cached = { 'tus-version': TUS_RESUMABLE, 'upload-id': uploadId, file: new Upload({ ...upload, offset: 0 }), [FRESH]: true };
    await this.cache.set(upload.id, cached);
  }

  /** Whether no write has begun on the upload whose metadata this is. */
  protected isFresh(metadata: MetadataValue): boolean {
    return (metadata as Cached)[FRESH] === true;
  }

  /** Clears the mark, in the shared cache, before the first byte is written. */
  protected async writing(id: string, metadata: MetadataValue): Promise<void> {
    if (!this.isFresh(metadata)) return;
    const { [FRESH]: _fresh, ...rest } = metadata as Cached;
    delete (metadata as Cached)[FRESH]; // the in-memory cache hands out this very object
    await this.cache.set(id, rest);
  }
}
