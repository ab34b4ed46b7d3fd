import type { Readable } from 'node:stream';
import type { DataStore } from '@tus/utils';
import type { StoreCapabilities } from '../storage/store.ts';
import type { ResumableSha256 } from './sha256-state.ts';

/**
 * What the gateway needs of one tus datastore backend (file-datastore.ts, s3-datastore.ts):
 * the @tus/server DataStore that keeps the bytes, and everything else the gateway does
 * with them — reading them back, flushing, removing, turning them into an object.
 * Type-only: each adapter builds one; nothing outside the adapters knows which it has.
 */
export interface TusAdapter {
  /** The @tus/server datastore that receives the bytes (ids as the adapter knows them: see idPrefix). */
  datastore: DataStore;
  /** Prepended to the gateway's upload id to make the datastore's id (s3: `storage.s3.tusPrefix`). */
  idPrefix?: string;
  /**
   * Writes a PATCH body and feeds the same bytes to `hash`, in one pass (the file adapter:
   * one pool job per batch hashes, writes and starts writeback; s3: the hash reads the part
   * buffers). Resolves with the new offset once the bytes are durable (file: flushed; s3:
   * stored parts). A body that fails keeps the bytes that arrived, then throws its error.
   * `hash` (at `offset`) is undefined when the state is lost and cannot be had again cheaply.
   * Takes the gateway's id.
   */
  writeHashed: (body: Readable, id: string, offset: number, hash: ResumableSha256 | undefined) => Promise<number>;
  /** Reads bytes [start, end) of an upload's data as it is now, where the datastore can (file: yes; s3: no). */
  readRange?: RangeReader;
  /** Reads an upload's whole data once (finalization, when the hash state was lost). Takes the gateway's id. */
  readAll: (id: string) => Promise<Readable>;
  /** How a finished upload's bytes become the object in the Store. */
  placement: Placement;
  /** Throws ServiceUnavailable when the datastore cannot take uploads. */
  ping: () => Promise<void>;
  /** Ids the datastore holds, where it can list them cheaply (file). */
  listLive?: () => Promise<string[]>;
  /**
   * Makes sure a complete upload's data is whole in the datastore. s3: the process can
   * die after the last part and before CompleteMultipartUpload; the parts then add up
   * to the length but there is no object to copy or read.
   */
  ensureComplete?: (id: string, size: number) => Promise<void>;
  /** Removes everything the datastore keeps of an upload, where its own remove() falls short (s3). Takes the gateway's id. */
  remove?: (id: string) => Promise<void>;
}

/** Reads bytes [start, end) of an upload's data as it is now; undefined where the datastore cannot. */
export type RangeReader = (id: string, start: number, end: number) => Readable | undefined;

/** How the finished bytes of an upload reach the Store. */
export type Placement =
  /** file datastore → a Store that imports files (localfs): hard-link the data file and hand it over (zero copy). */
  | { kind: 'link'; dataPath: (id: string) => string; importFile: ImportFile }
  /** s3 datastore → s3 Store in the same bucket: server-side copy of the tus object. */
  | { kind: 'copy'; sourceKey: (id: string) => string }
  /** Any other pairing: stream the data from the datastore into Store.put. */
  | { kind: 'stream'; read: (id: string) => Promise<Readable> };

/** The Store's own importFile (storage/store.ts: StoreCapabilities). */
export type ImportFile = NonNullable<StoreCapabilities['importFile']>;
