/** The gateway's durable record of one upload, kept beside the tus datastore's own. */
export interface UploadRecord {
  id: string;
  status: 'uploading' | 'finalizing' | 'done' | 'failed';
  /** Upload-Length, once known. */
  size?: number;
  /** The object key, once finalization has begun. */
  key?: string;
  sha256?: string;
  /** The upload's metadata as given in Upload-Metadata (normalized: owner, filename). */
  metadata: Record<string, string>;
  createdAt: string;
  finishedAt?: string;
  error?: string;
}
