import { S3Store } from '@tus/s3-store';

type Part = Awaited<ReturnType<S3Store['retrieveParts']>>[number];

/**
 * @tus/s3-store uploads the parts of one PATCH concurrently, then counts the offset as the
 * sum of the parts it lists and writes on after the highest part number. A process killed
 * mid-PATCH can leave part 3 in S3 without part 2: the sum then claims bytes that are not
 * there (a hole the client never refills), and CompleteMultipartUpload later fails with
 * EntityTooSmall on the short part in the middle. See docs/tus-server-notes.md ("parts with a gap").
 *
 * Only the run of parts numbered 1, 2, … without a gap counts. Every part but the last has
 * the store's part size, so part n always holds the same bytes: the resumed PATCH rewrites
 * part n+1 onwards (S3 replaces a part uploaded again under the same number), and
 * CompleteMultipartUpload lists the contiguous parts only, so a stray higher part is dropped.
 */
export class ContiguousPartsS3Store extends S3Store {
  protected override async retrieveParts(id: string, partNumberMarker?: string): Promise<Part[]> {
    const parts = await super.retrieveParts(id, partNumberMarker);
    // The inner pages (with a marker) come back whole; the first call sorts and trims them.
    if (partNumberMarker) return parts;
    const run = parts.findIndex((part, i) => part.PartNumber !== i + 1);
    return run === -1 ? parts : parts.slice(0, run);
  }
}
