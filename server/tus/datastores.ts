import type { MetadataValue } from '@tus/s3-store';
import type { KvStore, Upload } from '@tus/utils';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import type { Store } from '../storage/store.ts';
import type { TusAdapter } from './adapter.ts';
import { createFileAdapter } from './file-datastore.ts';
import type { RecordStore } from './records.ts';

/**
 * The tus datastore adapter chosen by `tus.datastore`: file-datastore.ts or s3-datastore.ts.
 * The s3 adapter is imported only when chosen, so that a file-only gateway never loads the AWS SDK.
 */
export async function createTusAdapter(
  config: Config,
  store: Store,
  { s3Cache, metrics, infos }: { s3Cache?: KvStore<MetadataValue>; metrics?: Metrics; infos?: RecordStore<Upload> } = {},
): Promise<TusAdapter> {
  if (config.tus.datastore === 'file') {
    if (!infos) throw new Error('the file datastore keeps its upload infos in a RecordStore');
    return createFileAdapter(config, store, infos);
  }
  const { createS3Adapter } = await import('./s3-datastore.ts');
  return createS3Adapter(config, store, s3Cache, metrics);
}
