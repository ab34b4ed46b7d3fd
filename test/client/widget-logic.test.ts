import { describe, expect, it } from 'vitest';
import { describeFailure, formatBytes, isDeclaredDigestMismatch, serverMessage } from '../../client/src/messages.ts';
import { DEFAULT_RETRY_DELAYS, OptionsError, resolveOptions } from '../../client/src/options.ts';
import { describeProgress, formatDuration, RateMeter } from '../../client/src/progress.ts';
import { chunkSizeFor, type ServerInfo } from '../../client/src/server-info.ts';

const PAGE = 'https://models.example.com/upload/page.html';
const MiB = 2 ** 20;

describe('widget options', () => {
  it('merges the defaults once and resolves URLs against the page', () => {
    const o = resolveOptions({ apiBase: '/gw/' }, PAGE);
    expect(o.apiBase).toBe('https://models.example.com/gw');
    expect(o.endpoint).toBeNull();
    expect(o.owner).toBe('');
    expect(o.id).toBe('upload-widget:anonymous');
    expect(o.retryDelays).toEqual(DEFAULT_RETRY_DELAYS);
    expect(o.autoProceed).toBe(false);
  });

  it('keys the Uppy id on the owner, so resume fingerprints never cross owners', () => {
    expect(resolveOptions({ apiBase: PAGE, owner: 'alice' }, PAGE).id).toBe('upload-widget:alice');
    expect(resolveOptions({ apiBase: PAGE, owner: 'alice', id: 'mine' }, PAGE).id).toBe('mine');
  });

  it('treats an explicit undefined as the default', () => {
    expect(resolveOptions({ apiBase: PAGE, owner: undefined, maxFileSize: undefined }, PAGE).owner).toBe('');
  });

  it('retries long enough to ride out a network gone for a minute', () => {
    const total = DEFAULT_RETRY_DELAYS.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(60_000);
  });

  it.each([
    [{}, /apiBase must be a URL/],
    [{ apiBase: 'ftp://x.example' }, /apiBase must be an http\(s\) URL/],
    [{ apiBase: PAGE, owner: 'a/b' }, /owner "a\/b" must be a single path segment/],
    [{ apiBase: PAGE, owner: '..' }, /owner "\.\." must not be/],
    [{ apiBase: PAGE, owner: 'x'.repeat(65) }, /at most 64 bytes/],
    [{ apiBase: PAGE, maxFileSize: -1 }, /maxFileSize must be a positive integer/],
    [{ apiBase: PAGE, maxFileSize: '5GB' }, /maxFileSize must be a positive integer/],
    [{ apiBase: PAGE, chunkSize: 1.5 }, /chunkSize must be a positive integer/],
    [{ apiBase: PAGE, allowedFileTypes: 'bin' }, /allowedFileTypes must be a non-empty array/],
    [{ apiBase: PAGE, allowedFileTypes: ['bin'] }, /"bin" is neither an extension/],
    [{ apiBase: PAGE, retryDelays: [1000, -1] }, /retryDelays must be an array of non-negative numbers/],
    [{ apiBase: PAGE, onComplete: 'done' }, /onComplete must be a function/],
    [{ apiBase: PAGE, theme: 'blue' }, /theme must be "auto", "light" or "dark"/],
    [{ apiBase: PAGE, maxFilesize: 10 }, /unknown option "maxFilesize"/],
  ])('fails at once with a message naming the bad option: %j', (input, message) => {
    expect(() => resolveOptions(input as never, PAGE)).toThrow(OptionsError);
    expect(() => resolveOptions(input as never, PAGE)).toThrow(message);
  });

  it('accepts extensions and MIME patterns as file types', () => {
    expect(resolveOptions({ apiBase: PAGE, allowedFileTypes: ['.safetensors', 'application/*', 'application/x-hdf5'] }, PAGE).allowedFileTypes).toHaveLength(3);
  });
});

describe('chunk size from the server', () => {
  const server = (datastore: 'file' | 's3', partSize = 8 * MiB): ServerInfo => ({ tusEndpoint: 'x', maxSize: 1e12, partSize, datastore });

  it('defaults to whole S3 parts, about 32 MiB a PATCH', () => {
    expect(chunkSizeFor(server('s3'), null)).toBe(32 * MiB);
    expect(chunkSizeFor(server('s3', 5 * MiB), null)).toBe(30 * MiB);
    expect(chunkSizeFor(server('s3', 50 * MiB), null)).toBe(50 * MiB);
  });

  it('refuses a chunk size that splits S3 parts, and allows any with the file datastore', () => {
    expect(() => chunkSizeFor(server('s3'), 10 * MiB)).toThrow(/multiple of the server's S3 part size \(8388608 bytes\)/);
    expect(chunkSizeFor(server('s3'), 16 * MiB)).toBe(16 * MiB);
    expect(chunkSizeFor(server('file'), 10 * MiB)).toBe(10 * MiB);
  });
});

describe('failure messages', () => {
  it('says what 413, 415, 400 and server errors mean, with the server reason', () => {
    const body = JSON.stringify({ error: { code: 'EntityTooLarge', message: 'Maximum size exceeded' } });
    expect(describeFailure('m.bin', { status: 413, body }, { maxSize: 20 * 2 ** 30 })).toBe(
      '“m.bin” is larger than this server accepts (at most 20 GiB). The server said: Maximum size exceeded.',
    );
    expect(describeFailure('m.bin', { status: 415 })).toMatch(/does not accept this type of file/);
    expect(describeFailure('m.bin', { status: 400, body: '{"error":{"message":"bad owner"}}' })).toMatch(/name or owner is not allowed.*bad owner/);
    expect(describeFailure('m.bin', { status: 503, body: '<html>oops</html>' })).toBe(
      'The upload server had a problem (HTTP 503) with “m.bin”. What was sent is kept: retry to continue.',
    );
    expect(describeFailure('m.bin', { status: 0 })).toMatch(/connection .* was lost/);
  });

  it('reads the gateway JSON error and short text bodies', () => {
    expect(serverMessage('{"error":{"code":"X","message":"why"}}')).toBe('why');
    expect(serverMessage('Upload-Length exceeds\n')).toBe('Upload-Length exceeds');
    expect(serverMessage('')).toBeNull();
  });

  it('formats sizes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(40 * MiB)).toBe('40 MiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
  });
});

describe('progress, speed and time left', () => {
  it('measures speed over the last seconds and starts over when the count goes back', () => {
    const meter = new RateMeter(5000);
    expect(meter.sample(0, 0)).toBe(0);
    expect(meter.sample(8 * MiB, 1000)).toBe(8 * MiB);
    expect(meter.sample(16 * MiB, 2000)).toBe(8 * MiB);
    // Stalled: the rate falls as time passes without bytes.
    expect(meter.sample(16 * MiB, 10_000)).toBe(0);
    // A resume that re-sends from the server's offset: no negative speed.
    expect(meter.sample(12 * MiB, 11_000)).toBe(0);
    expect(meter.sample(14 * MiB, 12_000)).toBe(2 * MiB);
  });

  it('says amount, speed and time left, or that it waits for the connection', () => {
    expect(describeProgress(18 * MiB, 40 * MiB, 11 * MiB, 0)).toBe('18 MiB of 40 MiB · 11 MiB/s · 2 s left');
    expect(describeProgress(18 * MiB, 40 * MiB, 0, 4000)).toBe('18 MiB of 40 MiB · no progress for 4 s: waiting for the connection, it will continue by itself');
    expect(formatDuration(125)).toBe('2 min');
    expect(formatDuration(3 * 3600 + 600)).toBe('3 h 10 min');
  });
});

describe('integrity options and messages', () => {
  it('takes verify as a boolean, off by default, and refuses anything else', () => {
    expect(resolveOptions({ apiBase: PAGE }, PAGE).verify).toBe(false);
    expect(resolveOptions({ apiBase: PAGE, verify: true }, PAGE).verify).toBe(true);
    expect(() => resolveOptions({ apiBase: PAGE, verify: 'yes' as unknown as boolean }, PAGE)).toThrow('UploadWidget: verify must be a boolean');
  });

  it('says that a file did not arrive intact on a 460, with the server’s reason', () => {
    const body = '{"error":{"code":"ChecksumMismatch","message":"the upload\'s sha256 is a, not the declared b: no object was stored"}}';
    const text = describeFailure('m.onnx', { status: 460, body });
    expect(text).toMatch(/^“m\.onnx” did not arrive intact: its sha256 does not match/);
    expect(text).toContain('The server said: the upload\'s sha256 is a, not the declared b');
  });

  it('tells a declared-digest mismatch (final) from a damaged chunk (worth resending)', () => {
    expect(isDeclaredDigestMismatch('{"error":{"message":"the upload\'s sha256 is a, not the declared b"}}')).toBe(true);
    expect(isDeclaredDigestMismatch('{"error":{"message":"Upload-Checksum sha256 x does not match the body"}}')).toBe(false);
    expect(isDeclaredDigestMismatch(null)).toBe(false);
  });
});
