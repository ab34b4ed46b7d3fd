/**
 * The local Store's read path with its sidecar cache (server/storage/localfs-read.ts): a read of a
 * known object skips the full check, so every way the object can change under it — through this
 * store, through another process on the same root, behind the store's back — must still never
 * serve one version's bytes under another's metadata. And getChosen, the one-metadata-read GET.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { errors, GatewayError, type ErrorCode } from '../../server/errors.ts';
import { createLocalFsStore, etagFromSha256, type LocalFsStore } from '../../server/storage/localfs.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'localfs-cache-'));
  dirs.push(dir);
  return dir;
}

const open = (root: string) => createLocalFsStore({ root, publicUrl: 'http://gw.test', signingSecret: 'test-secret' });
const body = (data: string): Readable => Readable.from([Buffer.from(data)]);
const etagOf = (data: string) => etagFromSha256(createHash('sha256').update(data).digest('hex'));

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await promise.then(() => expect.fail(`expected ${code}, but it resolved`), (e: unknown) => e);
  expect(err, String(err)).toBeInstanceOf(GatewayError);
  expect((err as GatewayError).code, (err as GatewayError).message).toBe(code);
}

/** Reads `key` both ways, so that both the stat and the open path have cached it. */
async function warm(store: LocalFsStore, key: string, expected: string): Promise<void> {
  expect((await store.stat(key)).etag).toBe(etagOf(expected));
  const got = await store.get(key);
  expect(await readAll(got.body)).toBe(expected);
}

/** The file descriptors of this process open on `path`. */
async function fdsOn(path: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === path) n++;
  }
  return n;
}

const KEY = 'models/alice/m.bin';
// Same length on purpose: a size check alone could not tell the versions apart.
const V1 = 'version one, 32 bytes long......';
const V2 = 'version two, 32 bytes long......';

describe('LocalFsStore read cache', () => {
  it('serves the new version, with its own etag, after a put through the same store replaces a cached object', async () => {
    const store = await open(await tempDir());
    await store.put(KEY, body(V1));
    await warm(store, KEY, V1);
    await store.put(KEY, body(V2));
    expect((await store.stat(KEY)).etag).toBe(etagOf(V2));
    const got = await store.get(KEY);
    expect(got.info.etag).toBe(etagOf(V2));
    expect(await readAll(got.body)).toBe(V2);
    const ranged = await store.get(KEY, { range: { start: 8, end: 10 } });
    expect([ranged.info.etag, await readAll(ranged.body)]).toEqual([etagOf(V2), 'two']);
  });

  it('forgets an object deleted through the same store', async () => {
    const store = await open(await tempDir());
    await store.put(KEY, body(V1));
    await warm(store, KEY, V1);
    await store.delete(KEY);
    await expectCode(store.stat(KEY), 'NoSuchKey');
    await expectCode(store.get(KEY), 'NoSuchKey');
  });

  it('sees a replacement and a delete made by another store on the same root (another process), never the old sidecar', async () => {
    const root = await tempDir();
    const reader = await open(root);
    const writer = await open(root);
    await writer.put(KEY, body(V1));
    await warm(reader, KEY, V1);
    await writer.put(KEY, body(V2));
    expect((await reader.stat(KEY)).etag).toBe(etagOf(V2));
    const got = await reader.get(KEY);
    expect([got.info.etag, await readAll(got.body)]).toEqual([etagOf(V2), V2]);
    await writer.delete(KEY);
    await expectCode(reader.stat(KEY), 'NoSuchKey');
    await expectCode(reader.get(KEY), 'NoSuchKey');
  });

  it('does not serve data rewritten in place behind its back under the cached etag', async () => {
    const root = await tempDir();
    const store = await open(root);
    await store.put(KEY, body(V1));
    await warm(store, KEY, V1);
    // Same inode, same size, a later mtime: newer than its sidecar says, as a torn commit looks.
    await writeFile(join(root, KEY), V2);
    const later = new Date(Date.now() + 10_000);
    await utimes(join(root, KEY), later, later);
    await expectCode(store.get(KEY), 'NoSuchKey');
    await expectCode(store.stat(KEY), 'NoSuchKey');
  });

  it('reads a sidecar edited in place behind its back again', async () => {
    const root = await tempDir();
    const store = await open(root);
    await store.put(KEY, body(V1), { contentType: 'application/x-one' });
    await warm(store, KEY, V1);
    const path = join(root, `${KEY}.meta.json`);
    const sidecar = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...sidecar, contentType: 'application/x-edited' }));
    expect((await store.stat(KEY)).contentType).toBe('application/x-edited');
    expect((await store.get(KEY)).info.contentType).toBe('application/x-edited');
  });

  it('refuses with AccessDenied a parent directory replaced by a symlink after the object was cached', async () => {
    const root = await tempDir();
    const outside = await tempDir();
    const store = await open(root);
    await store.put(KEY, body(V1));
    await warm(store, KEY, V1);
    // Another object of the same name and metadata, outside the root, reached through a symlinked parent.
    const other = await open(outside);
    await other.put(KEY, body(V2));
    await rename(join(root, 'models/alice'), join(outside, 'moved'));
    await mkdir(join(root, 'models'), { recursive: true });
    await symlink(join(outside, 'models/alice'), join(root, 'models/alice'));
    await expectCode(store.get(KEY), 'AccessDenied');
    await expectCode(store.stat(KEY), 'AccessDenied');
  });
});

describe('LocalFsStore getChosen', () => {
  it('lets the choice see the info of the version it then streams, and streams the range chosen', async () => {
    const store = await open(await tempDir());
    await store.put(KEY, body(V1));
    const seen: string[] = [];
    const got = await store.getChosen(KEY, (info) => {
      seen.push(info.etag);
      return { range: { start: info.size - 8, end: info.size + 100 } }; // an end past the size is cut to the size
    });
    expect(seen).toEqual([etagOf(V1)]);
    expect(got.range).toEqual({ start: 24, end: 31 });
    expect(await readAll(got.body!)).toBe(V1.slice(24));
  });

  it('opens nothing that stays open when the choice is no body, a throw, or a range past the end', async () => {
    const root = await tempDir();
    const store = await open(root);
    await store.put(KEY, body(V1));
    const none = await store.getChosen(KEY, () => null);
    expect(none.body).toBeUndefined();
    expect(none.info.etag).toBe(etagOf(V1));
    const refused = store.getChosen(KEY, () => {
      throw errors.preconditionFailed('If-Match did not hold');
    });
    await expectCode(refused, 'PreconditionFailed');
    await expectCode(store.getChosen(KEY, (info) => ({ range: { start: info.size, end: info.size } })), 'InvalidRange');
    expect(await fdsOn(join(root, KEY))).toBe(0);
  });
});
