import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, stat, truncate } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { configDir } from '../config-dir.ts';
import { emit, objectPath, warn, type Context } from '../context.ts';
import { CliError, EXIT, integrityError, toCliError } from '../errors.ts';
import { hashFileInto } from '../hash-file.ts';
import { authHeaders, responseError, withRetries } from '../http.ts';
import { Progress } from '../progress.ts';
import { readState, removeState, writeState } from '../state-file.ts';

export interface DownloadFlags {
  output?: string;
}

/** What a partial download was taken from, so that a later run resumes only the same representation. */
interface PartState {
  server: string;
  key: string;
  etag: string;
  size: number;
  digest?: string;
}

export interface DownloadResult {
  key: string;
  file: string;
  size: number;
  sha256: string;
  verified: boolean;
  /** Bytes already on disk when this run started (0 for a fresh download). */
  resumedFrom: number;
  /** Requests this run made (more than 1 after an interruption). */
  requests: number;
  /** Of those, the ones answered 206: the download went on from the bytes on disk. */
  rangeRequests: number;
}

/** RFC 9530: `Repr-Digest: sha-256=:<base64>:` (a structured-field dictionary; other algorithms may follow). */
function parseReprDigest(header: string | null): string | undefined {
  const m = header ? /(?:^|,)\s*sha-256=:([A-Za-z0-9+/]+={0,2}):/.exec(header) : null;
  return m ? Buffer.from(m[1]!, 'base64').toString('hex') : undefined;
}

const sizeOf = async (path: string) => (await stat(path).catch(() => undefined))?.size ?? 0;

/**
 * `ugw download KEY [-o FILE]`: streams into FILE.part and resumes it with Range + If-Range
 * (after a cut connection in this run, or a killed earlier run), then checks the whole
 * file's sha256 against Repr-Digest and renames it into place only on a match.
 */
export async function downloadCommand(ctx: Context, key: string, flags: DownloadFlags): Promise<void> {
  let dest = resolve(flags.output ?? basename(key));
  if ((await stat(dest).catch(() => undefined))?.isDirectory()) dest = join(dest, basename(key));
  const part = `${dest}.part`;
  const stateFile = join(configDir(), 'downloads', `${createHash('sha256').update(dest).digest('hex').slice(0, 32)}.json`);
  let state = await readState<PartState>(stateFile);
  if (state && (state.server !== ctx.server || state.key !== key)) state = undefined;
  if (!state && (await sizeOf(part)) > 0) await truncate(part, 0);

  const progress = new Progress(ctx);
  const line = progress.line(basename(dest));
  let resumedFrom = 0;
  let requests = 0;
  let rangeRequests = 0;
  // The running digest of the bytes in FILE.part, and how many it covers.
  let hash: Hash | undefined;
  let hashed = 0;

  try {
    await withRetries(
      ctx,
      async () => {
        const have = state ? await sizeOf(part) : 0;
        if (state && have === state.size && hash && hashed === have) return; // complete already
        const headers: Record<string, string> = { ...authHeaders(ctx) };
        // RFC 9110 §13.1.5: If-Range with the strong ETag the part came from; the server answers 206 or the whole new representation.
        if (state && have > 0) Object.assign(headers, { Range: `bytes=${have}-`, 'If-Range': state.etag });
        requests++;
        let res: Response;
        try {
          res = await fetch(`${ctx.server}${objectPath(key)}`, { headers });
        } catch (err) {
          throw new CliError(toCliError(err).message, EXIT.failed, 'NetworkError');
        }
        if (res.status === 416 && state) {
          await res.body?.cancel();
          if (have === state.size) {
            // If-Range matched and nothing is left to send: an earlier run got every byte but was stopped before the rename.
            if (!hash || hashed !== have) {
              hash = createHash('sha256');
              hashed = 0;
              line.phase('hashing', have);
              await hashFileInto(hash, part, (n) => line.update((hashed += n)));
            }
            if (requests === 1) resumedFrom = have;
            return;
          }
          // The part is not a prefix of what the server has now: start again.
          state = undefined;
          await truncate(part, 0);
          throw new CliError('the partial file does not fit the object: starting again', EXIT.failed, 'NetworkError');
        }
        if (res.status !== 200 && res.status !== 206) throw await responseError(res, `GET ${key}`);
        const etag = res.headers.get('ETag') ?? '';
        const digest = parseReprDigest(res.headers.get('Repr-Digest'));
        let from = 0;
        let size = Number(res.headers.get('Content-Length') ?? 0);
        if (res.status === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get('Content-Range') ?? '');
          if (!m || Number(m[1]) !== have) {
            await res.body?.cancel();
            throw new CliError(`unexpected Content-Range ${res.headers.get('Content-Range')}`, EXIT.failed, 'BadResponse');
          }
          from = have;
          rangeRequests++;
          size = Number(m[3]);
          if (requests === 1) resumedFrom = have;
        }
        state = { server: ctx.server, key, etag, size, ...(digest ? { digest } : {}) };
        await writeState(stateFile, state);

        if (from === 0 || !hash || hashed !== from) {
          hash = createHash('sha256');
          hashed = 0;
          if (from > 0) {
            // A part from an earlier run: its bytes count in the digest of the whole file.
            line.phase('hashing', from);
            await hashFileInto(hash, part, (n) => line.update((hashed += n)), 0, from);
          }
        }
        line.phase('downloading', size, from);
        const h = hash;
        const counter = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            h.update(chunk);
            hashed += chunk.length;
            line.update(hashed);
            cb(null, chunk);
          },
        });
        const out = createWriteStream(part, from === 0 ? { flags: 'w' } : { flags: 'r+', start: from });
        try {
          await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), counter, out);
        } catch (err) {
          // What reached the disk is what was hashed, unless a write failed: then hash again next time.
          if ((await sizeOf(part)) !== hashed) hash = undefined;
          throw new CliError(toCliError(err).message, EXIT.failed, 'NetworkError');
        }
        if (hashed !== size) throw new CliError(`the body ended after ${hashed} of ${size} bytes`, EXIT.failed, 'NetworkError');
      },
      (err) => {
        if (!ctx.quiet) progress.log(`ugw: warning: ${toCliError(err).message}; resuming`);
      },
    );
  } finally {
    line.stop();
    progress.stop();
  }

  const final = state!;
  const sha256 = hash!.digest('hex');
  if (!final.digest) {
    warn(ctx, `${key}: the server sent no Repr-Digest; the file is not verified`);
  } else if (final.digest !== sha256) {
    const corrupt = `${dest}.corrupt`;
    await rename(part, corrupt);
    await removeState(stateFile);
    throw integrityError(`${key}: sha256 ${sha256} does not match the server's Repr-Digest ${final.digest}; the bytes are kept in ${corrupt}`);
  }
  await rename(part, dest);
  await removeState(stateFile);
  const result: DownloadResult = { key, file: dest, size: final.size, sha256, verified: Boolean(final.digest), resumedFrom, requests, rangeRequests };
  emit(ctx, result, `${dest} sha256:${sha256}`);
}
