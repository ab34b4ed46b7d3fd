import { constants, createReadStream } from 'node:fs';
import { access, mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { FileStore } from '@tus/file-store';
import { ERRORS, type Upload } from '@tus/utils';
import { errors } from '../errors.ts';
import type { Config } from '../config.ts';
import type { Store } from '../storage/store.ts';
import type { TusAdapter } from './adapter.ts';
import { writeBody } from './batch-writer.ts';
import { writeSmallFile } from '../util/small-files.ts';
import type { RecordStore } from './records.ts';
import { syncDirectory } from './group-flush.ts';

/**
 * @tus/file-store with its upload infos in the gateway's journal (journal.ts: one append and one
 * shared flush, where @tus/file-store writes a file per info) and its create() and remove() doing
 * their steps side by side: its own runs a mkdir, the empty data file and the info one after
 * another. Here the info is written once the data file exists, while the directory holding the
 * data file's new name is flushed (a crash between leaves a data file and no info, which nobody
 * was told of: never an info without its data).
 */
class GatewayFileStore extends FileStore {
  constructor(
    options: ConstructorParameters<typeof FileStore>[0],
    private readonly infos: RecordStore<Upload>,
    private readonly pathOf: (id: string) => string,
  ) {
    super(options);
  }

  override async create(file: Upload): Promise<Upload> {
    const path = this.pathOf(file.id);
    const created = writeSmallFile(path, Buffer.alloc(0)).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      await mkdir(dirname(path), { recursive: true }); // the directory went away while running
      await writeSmallFile(path, Buffer.alloc(0));
    });
    // The data file's name is durable (its directory flushed) when the info is: a PATCH's
    // fdatasync of the file would not flush its name.
    await Promise.all([created.then(() => syncDirectory(dirname(path))), this.infos.set(file.id, file, { after: created })]);
    file.storage = { type: 'file', path };
    return file;
  }

  override async remove(id: string): Promise<void> {
    const [data] = await Promise.allSettled([unlink(this.pathOf(id)), this.infos.delete(id)]);
    if (data.status === 'rejected') throw ERRORS.FILE_NOT_FOUND; // as @tus/file-store answers it
  }
}

/** The file datastore's data file for `id`: `{tus.file.directory}/{id}` (@tus/file-store's layout). */
export const fileDataPath = (directory: string) => (id: string) => join(directory, id);

/**
 * The file datastore: @tus/file-store's layout (`{id}` data, `{id}.json` info) under
 * `tus.file.directory`; a finished upload's file is handed to a Store that imports
 * files (a hard link, zero copy), else streamed into the Store.
 */
export function createFileAdapter(config: Config, store: Store, infos: RecordStore<Upload>): TusAdapter {
  const { importFile } = store.capabilities;
  const directory = config.tus.file.directory;
  const dataPath = fileDataPath(directory);
  const readAll = async (id: string): Promise<Readable> => createReadStream(dataPath(id));
  // The infos in the journal (docs/tus-server-notes.md #9: FileKvStore's plain writeFile can tear).
  const datastore = new GatewayFileStore({ directory, configstore: infos, expirationPeriodInMilliseconds: config.tus.expiration }, infos, dataPath);
  return {
    datastore,
    readRange: (id, start, end) => (end > start ? createReadStream(dataPath(id), { start, end: end - 1 }) : Readable.from([])),
    readAll,
    placement: importFile ? { kind: 'link', dataPath, importFile } : { kind: 'stream', read: readAll },
    ping: () =>
      access(directory, constants.W_OK).catch((err) => {
        throw errors.unavailable(`tus directory not writable: ${directory}`, err);
      }),
    listLive: () => infos.list(),
    // @tus/file-store's own write() goes through a 64 KiB fs.WriteStream; this one batches (batch-writer.ts).
    writeHashed: async (body, id, offset, hash) => {
      const fh = await open(dataPath(id), 'r+');
      // A second descriptor, with O_DIRECT, opened once a whole slab is to be written (batch-writer.ts);
      // none where the platform or the filesystem (tmpfs) has no O_DIRECT.
      let direct: Promise<FileHandle | undefined> | undefined;
      const openDirect = async () => {
        if (constants.O_DIRECT === undefined) return undefined;
        direct ??= open(dataPath(id), constants.O_RDWR | constants.O_DIRECT).catch(() => undefined);
        return (await direct)?.fd;
      };
      try {
        return await writeBody(fh.fd, body, offset, hash, openDirect);
      } finally {
        await Promise.all([fh.close(), direct?.then((d) => d?.close())]);
      }
    },
  };
}
