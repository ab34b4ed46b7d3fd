/**
 * What the Store contract's parts (test/storage/contract/*.ts, gathered by
 * ../store.contract.ts) share: the fixture and capability types, `useContractStore()`, and
 * the helpers that read bodies, compare keys and check errors.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect } from 'vitest';
import { GatewayError, type ErrorCode } from '../../../server/errors.ts';
import type { ObjectInfo, Store } from '../../../server/storage/store.ts';
import { readThrough } from '../../support/use.ts';

export interface StoreFixture {
  store: Store;
  cleanup?: () => Promise<void>;
}

export interface StoreContractCaps {
  /** localfs: a key may not end in `.meta.json`, the name of its sidecar (docs/api.md §3). */
  reservesSidecarSuffix: boolean;
  /**
   * S3 lets `a` and `a/b` both be objects; a directory tree cannot. When false, the put
   * that would need a file and a folder of the same name is refused with a 4xx GatewayError
   * and the object already there stays intact.
   */
  keyMayAlsoBeFolder: boolean;
  /** Size of the large streamed round trip. Default 200 MiB. */
  largeObjectBytes?: number;
  /**
   * How much the process RSS may grow while it streams. Default 100 MiB: a store that holds
   * the whole object grows by more than its size, one that streams by its buffers only.
   */
  maxRssGrowthBytes?: number;
}

/**
 * Gives a store over an empty namespace (a fresh directory or bucket). Its presigned URLs
 * must be served over real HTTP while the fixture lives (for localfs, the `/storage` route:
 * see test/support/storage-server.ts); `cleanup` releases everything.
 */
export type MakeStore = () => Promise<StoreFixture>;

/**
 * The store of the calling describe block, made in its beforeAll and released (with every
 * `fresh()` one) in its afterAll. `store` reads through to it, so use it inside tests only.
 * Every test works under its own prefix (`ns()`), so tests sharing the store never see each
 * other's objects.
 */
export function useContractStore(makeStore: MakeStore): { store: Store; fresh: () => Promise<Store>; ns: () => string } {
  const fixtures: StoreFixture[] = [];
  let current: Store | undefined;
  const fresh = async (): Promise<Store> => {
    const fixture = await makeStore();
    fixtures.push(fixture);
    return fixture.store;
  };
  let counter = 0;
  const ns = (): string => `t${++counter}-${Math.random().toString(36).slice(2, 8)}`;
  beforeAll(async () => {
    current = await fresh();
  }, 120_000);
  afterAll(async () => {
    for (const f of fixtures.reverse()) await f.cleanup?.();
  }, 120_000);
  const store = readThrough('useContractStore', () => current);
  return { store, fresh, ns };
}

export const MiB = 2 ** 20;
export const LARGE_TIMEOUT_MS = 240_000;

export function bodyOf(bytes: Buffer): Readable {
  return Readable.from(bytes.length ? [bytes] : [], { objectMode: false });
}

export async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

export const byteSorted = (keys: string[]): string[] => [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

/** Deterministic pseudo-random chunks (xorshift32), each a fresh allocation, so a store that buffers them shows in RSS. */
export function* pseudoRandomChunks(total: number, seed: number, chunkSize = MiB): Generator<Buffer> {
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let offset = 0; offset < total; offset += chunkSize) {
    const n = Math.min(chunkSize, total - offset);
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      words[i] = s >>> 0;
    }
    yield Buffer.from(words.buffer, 0, n);
  }
}

export function pseudoRandomBytes(size: number, seed: number): Buffer {
  return Buffer.concat([...pseudoRandomChunks(size, seed)]);
}

/** A body that sends `first`, then waits for `release()` before sending `rest`. */
export function gatedBody(first: Buffer, rest: Buffer): { body: Readable; release: () => void; waitForGate: () => Promise<void> } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let reachedGate!: () => void;
  const reached = new Promise<void>((resolve) => (reachedGate = resolve));
  const body = Readable.from(
    (async function* () {
      yield first;
      reachedGate(); // the store asked for more: `first` is in its hands
      await gate;
      yield rest;
    })(),
    { objectMode: false },
  );
  const waitForGate = async (): Promise<void> => {
    await Promise.race([reached, sleep(10_000).then(() => Promise.reject(new Error('the store never read past the first chunk')))]);
  };
  return { body, release, waitForGate };
}

/** A key of exactly `bytes` UTF-8 bytes: `prefix` then segments of at most 200 bytes mixing 2- and 3-byte characters. */
export function keyOfBytes(prefix: string, bytes: number): string {
  let key = prefix;
  let segment = '';
  const pieces = ['ö', '模', 'x'];
  for (let i = 0; Buffer.byteLength(key) + Buffer.byteLength(segment) < bytes; i++) {
    const room = bytes - Buffer.byteLength(key) - Buffer.byteLength(segment);
    if (Buffer.byteLength(segment) >= 190 && room > 1) {
      key += `${segment}/`;
      segment = '';
      continue;
    }
    const piece = pieces[i % 3]!;
    segment += Buffer.byteLength(piece) <= room ? piece : 'x';
  }
  return key + segment;
}

export async function expectGatewayError(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const outcome = await promise.then(
    (value) => ({ resolved: value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) expect.fail(`expected a GatewayError ${code}, but it resolved`);
  expect(outcome.error, `expected a GatewayError ${code}, got ${String(outcome.error)}`).toBeInstanceOf(GatewayError);
  expect((outcome.error as GatewayError).code, (outcome.error as GatewayError).message).toBe(code);
}

export async function expectClientError(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => expect.fail('expected a 4xx GatewayError, but it resolved'),
    (e: unknown) => e,
  );
  expect(error, String(error)).toBeInstanceOf(GatewayError);
  const { status, code, message } = error as GatewayError;
  expect(status, `${code}: ${message}`).toBeGreaterThanOrEqual(400);
  expect(status, `${code}: ${message}`).toBeLessThan(500);
}

export function expectEtag(etag: string): void {
  expect(etag).toMatch(/^"[^"]+"$/);
}

export function expectRecent(date: Date): void {
  expect(date).toBeInstanceOf(Date);
  expect(Math.abs(date.getTime() - Date.now())).toBeLessThan(10 * 60_000);
}

/** S3 gives listings millisecond times and HEAD whole seconds; the same instant either way. */
export function expectSameSecond(a: Date, b: Date): void {
  expect(Math.abs(a.getTime() - b.getTime())).toBeLessThan(1000);
}

export async function listPages(store: Store, options: { prefix: string; limit: number }): Promise<Array<{ objects: ObjectInfo[]; nextCursor?: string }>> {
  const pages = [];
  let cursor: string | undefined;
  for (let i = 0; i < 200; i++) {
    const page = await store.list({ ...options, ...(cursor === undefined ? {} : { cursor }) });
    pages.push(page);
    if (page.nextCursor === undefined) return pages;
    expect(page.nextCursor).not.toBe(cursor);
    cursor = page.nextCursor;
  }
  throw new Error('list never ended');
}

export async function listKeys(store: Store, prefix: string): Promise<string[]> {
  return (await listPages(store, { prefix, limit: 1000 })).flatMap((page) => page.objects.map((o) => o.key));
}

/** A presigned PUT's headers as fetch takes them: fetch sets Content-Length from the body itself. */
export function fetchHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'content-length'));
}

export async function status(url: string, init?: RequestInit): Promise<number> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

/** Changes one hex digit of the URL's signature parameter (`signature` or `X-Amz-Signature`). */
export function tamperSignature(url: string): string {
  const u = new URL(url);
  const name = [...u.searchParams.keys()].find((k) => /signature$/i.test(k));
  expect(name, `no signature parameter in ${url}`).toBeDefined();
  const value = u.searchParams.get(name!)!;
  u.searchParams.set(name!, (value[0] === '0' ? '1' : '0') + value.slice(1));
  return u.toString();
}

/**
 * Samples the process RSS every 50 ms; `stop()` returns the peak growth over the baseline.
 * A full GC every 100 ms (when V8 allows exposing it) keeps garbage not yet collected
 * from passing for memory a store holds on to: without it the same streaming store
 * measured up to 30 MiB more, depending on when V8 chose to collect.
 */
export function sampleRss(): { stop: () => number } {
  const gc = exposeGc();
  gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  let ticks = 0;
  const timer = setInterval(() => {
    if (gc && ++ticks % 2 === 0) gc();
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage().rss);
      return peak - baseline;
    },
  };
}

export function exposeGc(): (() => void) | undefined {
  if (typeof globalThis.gc === 'function') return () => globalThis.gc!();
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}
