/**
 * What is particular to the local-disk Store: its files on disk, crash safety, symlinks,
 * importFile and the URL signatures. Generic Store behaviour is in store.contract.ts.
 */
import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayError, type ErrorCode } from '../../server/errors.ts';
import { createLocalFsStore, etagFromSha256, TEMP_DIR, type LocalFsStore } from '../../server/storage/localfs.ts';
import { signStorageUrl, verifyStorageSignature } from '../../server/storage/signing.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(base = tmpdir()): Promise<string> {
  const dir = await mkdtemp(join(base, 'localfs-test-'));
  dirs.push(dir);
  return dir;
}

const SECRET = 'test-secret';
async function makeStore(root?: string): Promise<{ store: LocalFsStore; root: string }> {
  const dir = root ?? (await tempDir());
  return { store: await createLocalFsStore({ root: dir, publicUrl: 'http://gw.test', signingSecret: SECRET }), root: dir };
}

const body = (data: string | Buffer): Readable => Readable.from([Buffer.from(data)]);
const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await promise.then(() => expect.fail(`expected ${code}, but it resolved`), (e: unknown) => e);
  expect(err, String(err)).toBeInstanceOf(GatewayError);
  expect((err as GatewayError).code, (err as GatewayError).message).toBe(code);
}

const listKeys = async (store: LocalFsStore, prefix = ''): Promise<string[]> => (await store.list({ prefix })).objects.map((o) => o.key);
const exists = (path: string): Promise<boolean> => lstat(path).then(() => true, () => false);

describe('LocalFsStore files on disk', () => {
  it('keeps the bytes at {root}/{key} and the sidecar JSON at {root}/{key}.meta.json', async () => {
    const { store, root } = await makeStore();
    const metadata = { filename: 'm.bin', sha256: sha256('hello'), uploadId: 'u1' };
    const info = await store.put('models/alice/m.bin', body('hello'), { contentType: 'application/x-test', metadata });
    expect(await readFile(join(root, 'models/alice/m.bin'), 'utf8')).toBe('hello');
    const sidecar = JSON.parse(await readFile(join(root, 'models/alice/m.bin.meta.json'), 'utf8'));
    expect(Object.keys(sidecar)).toEqual(['key', 'size', 'contentType', 'etag', 'lastModified', 'metadata']);
    expect(sidecar).toEqual({
      key: 'models/alice/m.bin',
      size: 5,
      contentType: 'application/x-test',
      etag: `"${sha256('hello').slice(0, 32)}"`,
      lastModified: info.lastModified.toISOString(),
      metadata,
    });
    expect(info.etag).toBe(etagFromSha256(sha256('hello')));
  });

  it('prunes the directories a delete empties, up to but not including the root', async () => {
    const { store, root } = await makeStore();
    await store.put('a/b/c/one', body('1'));
    await store.put('a/two', body('2'));
    await store.delete('a/b/c/one');
    expect(await exists(join(root, 'a/b'))).toBe(false);
    expect(await exists(join(root, 'a/two'))).toBe(true);
    await store.delete('a/two');
    expect(await readdir(root)).toEqual([TEMP_DIR]);
  });

  it('writes, imports and deletes in one directory at once, while deletes prune it: none fails, every write lands', async () => {
    // The bench's soak found it: a delete that empties models/{owner}/ prunes it while another
    // upload's finalization is creating its parents (mkdir → ENOENT) — a 500 on the final PATCH.
    const { store, root } = await makeStore();
    const outside = await tempDir();
    for (let round = 0; round < 40; round++) {
      const dir = `m/o${round % 3}`;
      await Promise.all(Array.from({ length: 4 }, (_, i) => store.put(`${dir}/old-${round}-${i}`, body('x'))));
      const writes = Array.from({ length: 4 }, async (_, i) => {
        if (i % 2) return store.put(`${dir}/new-${round}-${i}`, body(`n${i}`));
        const file = join(outside, `f-${round}-${i}`);
        await writeFile(file, `n${i}`);
        return store.importFile(file, `${dir}/new-${round}-${i}`, { size: 2, sha256: sha256(`n${i}`) });
      });
      const deletes = Array.from({ length: 4 }, (_, i) => store.delete(`${dir}/old-${round}-${i}`));
      const results = await Promise.allSettled([...writes, ...deletes]);
      expect(results.filter((r) => r.status === 'rejected'), `round ${round}`).toEqual([]);
      for (let i = 0; i < 4; i++) expect((await readAll((await store.get(`${dir}/new-${round}-${i}`)).body)).toString()).toBe(`n${i}`);
      await Promise.all(Array.from({ length: 4 }, (_, i) => store.delete(`${dir}/new-${round}-${i}`)));
    }
    expect(await readdir(root)).toEqual([TEMP_DIR]);
  });

  it('copies into a new inode and carries the etag over', async () => {
    const { store, root } = await makeStore();
    const src = await store.put('src', body('payload'), { metadata: { sha256: sha256('payload') } });
    const copy = await store.copy('src', 'dst');
    expect(copy.etag).toBe(src.etag);
    expect((await stat(join(root, 'dst'))).ino).not.toBe((await stat(join(root, 'src'))).ino);
    await store.put('src', body('changed'));
    expect((await readAll((await store.get('dst')).body)).toString()).toBe('payload');
  });
});

describe('LocalFsStore crash safety', () => {
  it('never leaves a temporary file behind: refused size, failed body stream', async () => {
    const { store, root } = await makeStore();
    await store.put('models/x/keep', body('old'));
    const tooLong = body('too long');
    await expectCode(store.put('models/x/keep', tooLong, { size: 3 }), 'InvalidArgument');
    expect(tooLong.destroyed).toBe(false); // left to its owner (an HTTP route still answers on its socket)
    await expectCode(store.put('models/new/obj', body('short'), { size: 100 }), 'InvalidArgument');
    const failing = Readable.from((async function* () {
      yield Buffer.from('partial ');
      throw new Error('connection reset');
    })());
    await expectCode(store.put('models/x/keep', failing), 'InternalError');
    expect(await readdir(join(root, TEMP_DIR))).toEqual([]);
    expect(await exists(join(root, 'models/new'))).toBe(false); // the refused put's directories are gone too
    expect((await readAll((await store.get('models/x/keep')).body)).toString()).toBe('old');
  });

  it('ignores what a crash leaves: temp files are never listed, data without a sidecar is absent', async () => {
    const { store, root } = await makeStore();
    await store.put('kept', body('k'));
    await writeFile(join(root, TEMP_DIR, 'leftover'), 'half an object');
    await writeFile(join(root, TEMP_DIR, 'leftover.json'), '{"key":"leftover"}');
    await writeFile(join(root, 'orphan'), 'data whose sidecar never landed');
    expect(await listKeys(store)).toEqual(['kept']);
    await expectCode(store.stat('orphan'), 'NoSuchKey');
    await expectCode(store.get('orphan'), 'NoSuchKey');
  });

  it('keeps temp files in a directory that no key can name, so ".tmp" and other dot-names stay ordinary keys', async () => {
    const { store, root } = await makeStore();
    await expectCode(store.put(`${TEMP_DIR}/x`, body('x')), 'InvalidKey');
    await writeFile(join(root, TEMP_DIR, 'leftover'), 'half an object');
    await store.put('.tmp/x', body('x'));
    await store.put('.hidden', body('h'));
    expect((await readdir(root)).sort()).toEqual(['.hidden', '.hidden.meta.json', '.tmp', TEMP_DIR].sort());
    expect(await listKeys(store)).toEqual(['.hidden', '.tmp/x']);
  });

  it('sweeps stale temp files at start-up and keeps fresh ones', async () => {
    const root = await tempDir();
    await mkdir(join(root, TEMP_DIR));
    await writeFile(join(root, TEMP_DIR, 'in-flight'), 'x');
    await createLocalFsStore({ root, publicUrl: 'http://gw.test', signingSecret: SECRET });
    expect(await readdir(join(root, TEMP_DIR))).toEqual(['in-flight']);
    await createLocalFsStore({ root, publicUrl: 'http://gw.test', signingSecret: SECRET, staleTempAgeMs: 0 });
    expect(await readdir(join(root, TEMP_DIR))).toEqual([]);
  });

  it('treats data newer than its sidecar (a crash between the two renames) as absent until rewritten', async () => {
    const { store, root } = await makeStore();
    await store.put('same-size', body('version 1'));
    await store.put('other-size', body('version 1'));
    const later = new Date(Date.now() + 60_000);
    // What the first rename of a new version leaves when the process dies before the second.
    await writeFile(join(root, 'same-size'), 'VERSION 2');
    await utimes(join(root, 'same-size'), later, later);
    await writeFile(join(root, 'other-size'), 'v2');
    for (const key of ['same-size', 'other-size']) {
      await expectCode(store.stat(key), 'NoSuchKey');
      await expectCode(store.get(key), 'NoSuchKey');
    }
    expect(await listKeys(store)).toEqual([]);
    await store.put('same-size', body('version 3'));
    expect((await readAll((await store.get('same-size')).body)).toString()).toBe('version 3');
  });

  it('never serves bytes under another version\'s etag while puts of one key race with readers', async () => {
    const { store } = await makeStore();
    const versions = Array.from({ length: 8 }, (_, i) => Buffer.alloc(64 * 1024, i)); // equal sizes: only the mtime tells
    await store.put('raced', body(versions[0]!));
    let stop = false;
    const writers = Array.from({ length: 3 }, async (_, w) => {
      for (let i = 0; i < 40; i++) await store.put('raced', body(versions[(w * 40 + i) % versions.length]!));
    });
    let reads = 0;
    const readers = Array.from({ length: 3 }, async () => {
      while (!stop) {
        const got = await store.get('raced').catch((err: GatewayError) => (err.code === 'NoSuchKey' ? null : Promise.reject(err)));
        if (!got) continue; // only a crash leftover may look absent, and retries should hide a live commit
        expect(etagFromSha256(sha256(await readAll(got.body)))).toBe(got.info.etag);
        reads++;
      }
    });
    await Promise.all(writers);
    stop = true;
    await Promise.all(readers);
    expect(reads).toBeGreaterThan(0);
    const final = await store.get('raced');
    expect(etagFromSha256(sha256(await readAll(final.body)))).toBe(final.info.etag);
  });
});

describe('LocalFsStore and symbolic links', () => {
  /** A directory outside the root holding a complete object (bytes and a valid sidecar). */
  async function outsideObject(): Promise<string> {
    const outside = await tempDir();
    const { store } = await makeStore(outside);
    await store.put('secret.txt', body('top secret'));
    return outside;
  }

  it('refuses to read, list, copy or delete through a symlinked directory inside the root', async () => {
    const { store, root } = await makeStore();
    const outside = await outsideObject();
    await symlink(outside, join(root, 'evil'));
    await expectCode(store.get('evil/secret.txt'), 'AccessDenied');
    await expectCode(store.stat('evil/secret.txt'), 'AccessDenied');
    await expectCode(store.copy('evil/secret.txt', 'stolen'), 'AccessDenied');
    await expectCode(store.delete('evil/secret.txt'), 'AccessDenied');
    expect(await listKeys(store)).toEqual([]);
    expect(await listKeys(store, 'evil/')).toEqual([]);
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
    expect(await exists(join(root, 'stolen'))).toBe(false);
  });

  it('refuses to write through a symlinked directory inside the root', async () => {
    const { store, root } = await makeStore();
    const outside = await outsideObject();
    await symlink(outside, join(root, 'evil'));
    await store.put('plain', body('p'));
    await expectCode(store.put('evil/secret.txt', body('overwritten')), 'AccessDenied');
    await expectCode(store.put('evil/deeper/new.bin', body('planted')), 'AccessDenied');
    await expectCode(store.copy('plain', 'evil/copied'), 'AccessDenied');
    const staged = join(await tempDir(), 'upload');
    await writeFile(staged, 'tus data');
    await expectCode(store.importFile(staged, 'evil/imported', { size: 8, sha256: sha256('tus data') }), 'AccessDenied');
    expect((await readdir(outside)).sort()).toEqual([TEMP_DIR, 'secret.txt', 'secret.txt.meta.json'].sort());
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
  });

  it('refuses a symlink in place of the object file or of its sidecar', async () => {
    const { store, root } = await makeStore();
    const outside = await outsideObject();
    await symlink(join(outside, 'secret.txt'), join(root, 'link'));
    await copyFile(join(outside, 'secret.txt.meta.json'), join(root, 'link.meta.json'));
    await expectCode(store.get('link'), 'AccessDenied');
    await expectCode(store.stat('link'), 'AccessDenied');
    await expectCode(store.put('link', body('overwritten')), 'AccessDenied');
    await store.put('sidecar-linked', body('top secret'));
    await rm(join(root, 'sidecar-linked.meta.json'));
    await symlink(join(outside, 'secret.txt.meta.json'), join(root, 'sidecar-linked.meta.json'));
    await expectCode(store.get('sidecar-linked'), 'AccessDenied');
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
  });

  it('refuses to start on a root whose temp directory is a symlink', async () => {
    const root = await tempDir();
    await symlink(await tempDir(), join(root, TEMP_DIR));
    await expectCode(createLocalFsStore({ root, publicUrl: 'http://gw.test', signingSecret: SECRET }), 'InternalError');
  });
});

describe('LocalFsStore.importFile', () => {
  it('moves the file into place by rename: same inode, source gone, etag from the given sha256', async () => {
    const { store, root } = await makeStore();
    const source = join(await tempDir(), 'upload-1');
    await writeFile(source, 'finished upload');
    const { ino } = await stat(source);
    const digest = sha256('finished upload');
    const info = await store.importFile(source, 'models/bob/f.bin', { size: 15, sha256: digest, contentType: 'text/plain', metadata: { sha256: digest } });
    expect(info).toMatchObject({ key: 'models/bob/f.bin', size: 15, etag: etagFromSha256(digest), contentType: 'text/plain', metadata: { sha256: digest } });
    expect((await stat(join(root, 'models/bob/f.bin'))).ino).toBe(ino);
    expect(await exists(source)).toBe(false);
    expect(await store.stat('models/bob/f.bin')).toEqual(info);
  });

  it('keepSource: links the file in (same inode), leaves the source under its name, and leaves nothing when refused', async () => {
    const { store, root } = await makeStore();
    const source = join(await tempDir(), 'upload-kept');
    await writeFile(source, 'kept upload');
    const { ino } = await stat(source);
    const digest = sha256('kept upload');
    const info = await store.importFile(source, 'models/bob/kept.bin', { size: 11, sha256: digest, keepSource: true });
    expect(info.etag).toBe(etagFromSha256(digest));
    const object = await stat(join(root, 'models/bob/kept.bin'));
    expect(object.ino).toBe(ino);
    expect(object.nlink).toBe(2);
    expect(await readFile(source, 'utf8')).toBe('kept upload');
    expect((await readAll((await store.get('models/bob/kept.bin')).body)).toString()).toBe('kept upload');
    // A refused import (the key clashes with a prefix now) leaves the source alone and no temporary link.
    await expectCode(store.importFile(source, 'models/bob', { size: 11, sha256: digest, keepSource: true }), 'Conflict');
    expect((await stat(source)).nlink).toBe(2);
    expect(await readdir(join(root, TEMP_DIR))).toEqual([]);
  });

  it('copies across filesystems (EXDEV) and removes the source', async () => {
    const { store } = await makeStore();
    const shm = await tempDir('/dev/shm');
    expect((await stat(shm)).dev).not.toBe((await stat(tmpdir())).dev); // the point of this test
    const source = join(shm, 'upload-2');
    await writeFile(source, 'elsewhere');
    const info = await store.importFile(source, 'x/y', { size: 9, sha256: sha256('elsewhere') });
    expect(info.etag).toBe(etagFromSha256(sha256('elsewhere')));
    expect((await readAll((await store.get('x/y')).body)).toString()).toBe('elsewhere');
    expect(await exists(source)).toBe(false);
  });

  it('refuses a wrong size, a bad sha256 or a symlink, and leaves the source where it was', async () => {
    const { store } = await makeStore();
    const dir = await tempDir();
    const source = join(dir, 'upload-3');
    await writeFile(source, 'abc');
    await expectCode(store.importFile(source, 'k', { size: 4, sha256: sha256('abc') }), 'InvalidArgument');
    await expectCode(store.importFile(source, 'k', { size: 3, sha256: 'not-hex' }), 'InvalidArgument');
    await symlink(source, join(dir, 'link'));
    await expectCode(store.importFile(join(dir, 'link'), 'k', { size: 3, sha256: sha256('abc') }), 'InvalidArgument');
    expect(await readFile(source, 'utf8')).toBe('abc');
    await expectCode(store.stat('k'), 'NoSuchKey');
  });
});

describe('LocalFsStore.ping', () => {
  it('answers ServiceUnavailable once the root is gone', async () => {
    const { store, root } = await makeStore();
    await store.ping();
    await rm(root, { recursive: true });
    await expectCode(store.ping(), 'ServiceUnavailable');
  });
});

describe('storage URL signatures', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const expiresAt = new Date(now.getTime() + 300_000);
  const key = 'models/jörg/a b#?.bin';
  const url = new URL(signStorageUrl({ publicUrl: 'http://gw.test/', secret: SECRET, method: 'GET', key, expiresAt }));
  const expires = url.searchParams.get('expires')!;
  const signature = url.searchParams.get('signature')!;
  const verify = (over: Partial<Parameters<typeof verifyStorageSignature>[0]>) => () =>
    verifyStorageSignature({ secret: SECRET, method: 'GET', key, expires, signature, now, ...over });
  const throwsCode = (fn: () => void, code: ErrorCode) => expect(fn).toThrow(expect.objectContaining({ code }));

  it('builds {publicUrl}/storage/{encoded key}?expires={unix seconds}&signature={hex}', () => {
    expect(url.origin + url.pathname).toBe('http://gw.test/storage/models/j%C3%B6rg/a%20b%23%3F.bin');
    expect(expires).toBe(String(expiresAt.getTime() / 1000));
    expect(signature).toMatch(/^[0-9a-f]{64}$/);
    expect(verify({})).not.toThrow();
  });

  it('refuses a tampered signature, key or expiry, another secret, and a missing or malformed signature', () => {
    throwsCode(verify({ signature: (signature[0] === '0' ? '1' : '0') + signature.slice(1) }), 'SignatureDoesNotMatch');
    throwsCode(verify({ key: 'models/jörg/other.bin' }), 'SignatureDoesNotMatch');
    throwsCode(verify({ expires: String(Number(expires) + 3600) }), 'SignatureDoesNotMatch');
    throwsCode(verify({ secret: 'another secret' }), 'SignatureDoesNotMatch');
    for (const bad of [undefined, '', 'zz'.repeat(32), signature.slice(2), `${signature}00`]) {
      throwsCode(verify({ signature: bad }), 'SignatureDoesNotMatch');
    }
    for (const bad of [undefined, '', '1.5', '-1', `0${expires}`]) throwsCode(verify({ expires: bad }), 'SignatureDoesNotMatch');
  });

  it('binds a PUT URL to its size and sha256: the URL carries them, and changing either breaks the signature', () => {
    const digest = 'ab'.repeat(32);
    const put = new URL(signStorageUrl({ publicUrl: 'http://gw.test', secret: SECRET, method: 'PUT', key, expiresAt, size: 42, sha256: digest.toUpperCase() }));
    const q = (name: string) => put.searchParams.get(name);
    expect(q('size')).toBe('42');
    expect(q('sha256')).toBe(digest);
    const input = { secret: SECRET, method: 'PUT', key, expires: q('expires'), signature: q('signature'), now };
    expect(verifyStorageSignature({ ...input, size: '42', sha256: digest })).toEqual({ size: 42, sha256: digest });
    throwsCode(() => verifyStorageSignature({ ...input, size: '43', sha256: digest }), 'SignatureDoesNotMatch');
    throwsCode(() => verifyStorageSignature({ ...input, size: '42', sha256: 'cd'.repeat(32) }), 'SignatureDoesNotMatch');
    throwsCode(() => verifyStorageSignature({ ...input, size: '42' }), 'SignatureDoesNotMatch');
    throwsCode(() => verifyStorageSignature({ ...input, sha256: digest }), 'SignatureDoesNotMatch');
    throwsCode(() => verifyStorageSignature({ ...input, size: '-1', sha256: digest }), 'SignatureDoesNotMatch');
  });

  it('refuses the URL for another method', () => {
    throwsCode(verify({ method: 'PUT' }), 'SignatureDoesNotMatch');
    throwsCode(verify({ method: 'DELETE' }), 'SignatureDoesNotMatch');
  });

  it('is valid through its expiry second, ExpiredToken after, and checks the signature before the expiry', () => {
    expect(verify({ now: new Date(expiresAt.getTime() + 999) })).not.toThrow();
    throwsCode(verify({ now: new Date(expiresAt.getTime() + 1000) }), 'ExpiredToken');
    throwsCode(verify({ now: new Date(expiresAt.getTime() + 1000), signature: '0'.repeat(64) }), 'SignatureDoesNotMatch');
  });

  it('signs the store\'s presigned URLs with its secret, GET and PUT apart', async () => {
    const { store } = await makeStore();
    for (const method of ['GET', 'PUT'] as const) {
      const signed = new URL(await (method === 'GET' ? store.presignedGetUrl(key, { expiresIn: 60 }) : (await store.presignedPutUrl(key, { expiresIn: 60, size: 5 })).url));
      const q = (name: string) => signed.searchParams.get(name);
      const input = { secret: SECRET, key, expires: q('expires'), signature: q('signature'), size: q('size'), sha256: q('sha256'), now: new Date() };
      expect(() => verifyStorageSignature({ ...input, method })).not.toThrow();
      throwsCode(() => verifyStorageSignature({ ...input, method: method === 'GET' ? 'PUT' : 'GET' }), 'SignatureDoesNotMatch');
    }
    await expectCode(store.presignedGetUrl(key, { expiresIn: 0 }), 'InvalidArgument');
  });
});
