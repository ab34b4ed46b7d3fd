import { constants, createReadStream } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FileStore } from '@tus/file-store';
import type { Upload } from '@tus/utils';
import { errors } from '../errors.ts';
import type { Config } from '../config.ts';
import type { Store } from '../storage/store.ts';
import type { TusAdapter } from './adapter.ts';
import { writeBody } from './batch-writer.ts';
import { FileRecordStore } from './records.ts';

/** The file datastore's data file for `id`: `{tus.file.directory}/{id}` (@tus/file-store's layout). */
export const fileDataPath = (directory: string) => (id: string) => join(directory, id);

/**
 * The file datastore: @tus/file-store's layout (`{id}` data, `{id}.json` info) under
 * `tus.file.directory`; a finished upload's file is handed to a Store that imports
 * files (a hard link, zero copy), else streamed into the Store.
 */
export function createFileAdapter(config: Config, store: Store): TusAdapter {
  const { importFile } = store.capabilities;
  const directory = config.tus.file.directory;
  const dataPath = fileDataPath(directory);
  const readAll = async (id: string): Promise<Readable> => createReadStream(dataPath(id));
  // Atomic replacement of the per-upload JSON (docs/tus-server-notes.md #9: FileKvStore's plain writeFile can tear).
  const configstore = new FileRecordStore<Upload>(directory, '.json', true, { cache: true });
  const datastore = new FileStore({ directory, configstore, expirationPeriodInMilliseconds: config.tus.expiration });
  return {
    datastore,
    readRange: (id, start, end) => (end > start ? createReadStream(dataPath(id), { start, end: end - 1 }) : Readable.from([])),
    readAll,
    placement: importFile ? { kind: 'link', dataPath, importFile } : { kind: 'stream', read: readAll },
    ping: () =>
      access(directory, constants.W_OK).catch((err) => {
        throw errors.unavailable(`tus directory not writable: ${directory}`, err);
      }),
    listLive: () => configstore.list(),
    // @tus/file-store's own write() goes through a 64 KiB fs.WriteStream; this one batches (batch-writer.ts).
    writeHashed: async (body, id, offset, hash) => {
      const fh = await open(dataPath(id), 'r+');
      try {
        return await writeBody(fh.fd, body, offset, hash);
      } finally {
        await fh.close();
      }
    },
    flush: async (id) => {
      const fh = await open(dataPath(id), 'r+');
      try {
        await fh.datasync();
      } finally {
        await fh.close();
      }
    },
  };
}
