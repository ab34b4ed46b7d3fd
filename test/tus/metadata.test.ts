/** tus/metadata.ts: Upload-Metadata through @tus/utils' Metadata, with the gateway's own stricter rules. */
import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../server/errors.ts';
import { encodeUploadMetadata, parseUploadMetadata } from '../../server/tus/metadata.ts';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function refusal(header: string): string {
  try {
    parseUploadMetadata(header);
  } catch (err) {
    expect(isGatewayError(err) && err.code).toBe('InvalidArgument');
    return (err as Error).message;
  }
  throw new Error(`accepted: ${header}`);
}

describe('parseUploadMetadata', () => {
  it('reads pairs, bare keys as empty values, UTF-8 values, and no header as no metadata', () => {
    expect(parseUploadMetadata(`filename ${b64('mödel.bin')},owner,note ${b64('a b')}`)).toEqual({ filename: 'mödel.bin', owner: '', note: 'a b' });
    expect(parseUploadMetadata(undefined)).toEqual({});
    expect(parseUploadMetadata('  ')).toEqual({});
  });

  it('takes a space after the comma (Metadata.parse alone refuses it)', () => {
    expect(parseUploadMetadata(`filename ${b64('x')}, owner ${b64('al')}`)).toEqual({ filename: 'x', owner: 'al' });
  });

  it('refuses what the tus grammar refuses, with a message naming the header', () => {
    for (const header of ['filename !!!', `filename ${b64('a')} ${b64('a')}`, `a ${b64('x')},,b`, `a ${b64('x')},a ${b64('y')}`, `fïlename ${b64('x')}`]) {
      expect(refusal(header)).toMatch(/^Upload-Metadata: /);
    }
  });

  it('refuses a control character or DEL in a key, which Metadata.parse would take', () => {
    expect(refusal(`a\u0001b ${b64('x')}`)).toMatch(/malformed key/);
    expect(refusal(`a\u007fb ${b64('x')}`)).toMatch(/malformed key/);
  });
});

describe('encodeUploadMetadata', () => {
  it('round-trips through parseUploadMetadata, an empty value as a bare key', () => {
    const metadata = { filename: 'naïve.bin', owner: '', sha256: 'ab'.repeat(32) };
    const header = encodeUploadMetadata(metadata);
    expect(header.split(',')[1]).toBe('owner');
    expect(parseUploadMetadata(header)).toEqual(metadata);
  });
});
