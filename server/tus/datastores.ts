import { constants, createReadStream } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { FileStore } from '@tus/file-store';
import type { MetadataValue } from '@tus/s3-store';
import type { Metrics } from '../metrics.ts';
import type { DataStore, KvStore, Upload } from '@tus/utils';
import { errors } from '../errors.ts';
import type { Config } from '../config.ts';
import type { Store } from '../storage/store.ts';
import type { RangeReader } from './datastore.ts';
import { fileDataPath, readFileData, type Placement } from './finalize.ts';
import { FileRecordStore } from './records.ts';

export interface InnerDatastore {
  datastore: DataStore;
  readRange?: RangeReader;
  idPrefix?: string;
  placement: Placement;
  readAll: (id: string) => Promise<Readable>;
  ping: () => Promise<void>;
  /** Ids the datastore holds, where it can list them cheaply (file). */
  listLive?: () => Promise<string[]>;
  /**
   * Makes sure a complete upload's data is whole in the datastore. s3: the process can
   * die after the last part and before CompleteMultipartUpload; the parts then add up
   * to the length but there is no object to copy or read.
   */
  ensureComplete?: (id: string, size: number) => Promise<void>;
  /** Removes everything the datastore keeps of an upload, where its own remove() falls short (s3). */
  remove?: (id: string) => Promise<void>;
  /** Flushes an upload's data to stable storage (file). */
  sync?: (id: string) => Promise<void>;
}


/** The tus datastore chosen by `tus.datastore`, with how its data reaches the Store. */
export async function createInnerDatastore(config: Config, store: Store, s3Cache?: KvStore<MetadataValue>, metrics?: Metrics): Promise<InnerDatastore> {
  const expiration = config.tus.expiration;
  if (config.tus.datastore === 'file') {
    const { importFile } = store.capabilities;
    const directory = config.tus.file.directory;
    const dataPath = fileDataPath(directory);
    // Atomic replacement of the per-upload JSON (docs/tus-server-notes.md #9: FileKvStore's plain writeFile can tear).
    const configstore = new FileRecordStore<Upload>(directory, '.json');
    const datastore = new FileStore({ directory, configstore, expirationPeriodInMilliseconds: expiration });
    return {
      datastore,
      readRange: (id, start, end) =>
        end > start ? createReadStream(dataPath(id), { start, end: end - 1 }) : Readable.from([]),
      placement: importFile
        ? { kind: 'link', dataPath, importFile }
        : { kind: 'stream', read: readFileData(directory) },
      readAll: readFileData(directory),
      ping: () =>
        access(directory, constants.W_OK).catch((err) => {
          throw errors.unavailable(`tus directory not writable: ${directory}`, err);
        }),
      listLive: () => configstore.list(),
      sync: async (id) => {
        const fh = await open(dataPath(id), 'r+');
        try {
          await fh.datasync();
        } finally {
          await fh.close();
        }
      },
    };
  }

  // Loaded only when chosen: the file datastore never loads the AWS SDK or @tus/s3-store.
  const { createS3Adapter } = await import('./s3-datastore.ts');
  return createS3Adapter(config, store, s3Cache, metrics);
}

