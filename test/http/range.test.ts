import { describe, expect, it } from 'vitest';
import { evaluatePreconditions, httpDateSeconds, ifRangeAllows, normalizeEtag, parseRange } from '../../server/http/range.ts';

const partial = (start: number, end: number) => ({ kind: 'partial', range: { start, end } });
const FULL = { kind: 'full' };
const UNSATISFIABLE = { kind: 'unsatisfiable' };

describe('parseRange (RFC 9110 §14)', () => {
  it('resolves bytes=a-b, bytes=a- and bytes=-n against the size', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual(partial(0, 9));
    expect(parseRange('bytes=10-', 100)).toEqual(partial(10, 99));
    expect(parseRange('bytes=-10', 100)).toEqual(partial(90, 99));
    expect(parseRange('bytes=99-99', 100)).toEqual(partial(99, 99));
  });

  it('clamps a last-pos past the end and a suffix longer than the object', () => {
    expect(parseRange('bytes=50-1000', 100)).toEqual(partial(50, 99));
    expect(parseRange('bytes=-1000', 100)).toEqual(partial(0, 99));
    expect(parseRange('bytes=0-99999999999999999999999', 100)).toEqual(partial(0, 99));
  });

  it('accepts a case-insensitive unit and whitespace around list members', () => {
    expect(parseRange('Bytes=1-2', 10)).toEqual(partial(1, 2));
    expect(parseRange('bytes= 1-2 ,', 10)).toEqual(partial(1, 2));
  });

  it('is unsatisfiable when first-pos is at or past the end, or the suffix is zero', () => {
    expect(parseRange('bytes=100-', 100)).toEqual(UNSATISFIABLE);
    expect(parseRange('bytes=100-200', 100)).toEqual(UNSATISFIABLE);
    expect(parseRange('bytes=-0', 100)).toEqual(UNSATISFIABLE);
    expect(parseRange('bytes=0-', 0)).toEqual(UNSATISFIABLE);
    expect(parseRange('bytes=200-,300-400', 100)).toEqual(UNSATISFIABLE);
  });

  it('ignores (serves the whole object for) other units and malformed or invalid specifiers', () => {
    for (const h of ['items=0-1', 'bytes=', 'bytes=abc', 'bytes=5', 'bytes=-', 'bytes=9-1', 'bytes=1-2-3', 'bytes=0x1-2', 'bytes=1.5-2']) {
      expect(parseRange(h, 100), h).toEqual(FULL);
    }
    expect(parseRange(undefined, 100)).toEqual(FULL);
    expect(parseRange('', 100)).toEqual(FULL);
  });

  it('serves the whole object for several ranges (no multipart/byteranges)', () => {
    expect(parseRange('bytes=0-1,5-6', 100)).toEqual(FULL);
    expect(parseRange('bytes=0-1,500-600', 100)).toEqual(FULL);
  });

  it('answers a suffix range of an empty object with the whole (empty) object', () => {
    expect(parseRange('bytes=-5', 0)).toEqual(FULL);
  });
});

describe('evaluatePreconditions (RFC 9110 §13.2.2)', () => {
  const lastModified = new Date('2024-05-01T10:00:00.500Z');
  const v = { etag: '"abc"', lastModified };
  const before = 'Wed, 01 May 2024 09:59:59 GMT';
  const same = 'Wed, 01 May 2024 10:00:00 GMT';

  it('If-None-Match: 304 on a match with the weak comparison, also in lists and for *', () => {
    expect(evaluatePreconditions({ ifNoneMatch: '"abc"' }, v)).toBe('not-modified');
    expect(evaluatePreconditions({ ifNoneMatch: 'W/"abc"' }, v)).toBe('not-modified');
    expect(evaluatePreconditions({ ifNoneMatch: '"x", W/"y" ,"abc"' }, v)).toBe('not-modified');
    expect(evaluatePreconditions({ ifNoneMatch: '*' }, v)).toBe('not-modified');
    expect(evaluatePreconditions({ ifNoneMatch: '"abcd", "ab"' }, v)).toBe('proceed');
    expect(evaluatePreconditions({ ifNoneMatch: 'W/"abc"' }, { ...v, etag: 'W/"abc"' })).toBe('not-modified');
  });

  it('quotes a bare etag from the backend or the client before comparing', () => {
    expect(evaluatePreconditions({ ifNoneMatch: '"abc"' }, { ...v, etag: 'abc' })).toBe('not-modified');
    expect(evaluatePreconditions({ ifNoneMatch: 'abc' }, v)).toBe('not-modified');
    expect(normalizeEtag('abc')).toBe('"abc"');
    expect(normalizeEtag('W/"abc"')).toBe('W/"abc"');
  });

  it('If-Modified-Since: 304 when not modified since (second precision), ignored with If-None-Match or a bad date', () => {
    expect(evaluatePreconditions({ ifModifiedSince: same }, v)).toBe('not-modified');
    expect(evaluatePreconditions({ ifModifiedSince: before }, v)).toBe('proceed');
    expect(evaluatePreconditions({ ifModifiedSince: 'yesterday' }, v)).toBe('proceed');
    expect(evaluatePreconditions({ ifModifiedSince: '1714557600' }, v)).toBe('proceed');
    expect(evaluatePreconditions({ ifNoneMatch: '"other"', ifModifiedSince: same }, v)).toBe('proceed');
  });

  it('If-Match uses the strong comparison; a mismatch fails (412)', () => {
    expect(evaluatePreconditions({ ifMatch: '"abc"' }, v)).toBe('proceed');
    expect(evaluatePreconditions({ ifMatch: '*' }, v)).toBe('proceed');
    expect(evaluatePreconditions({ ifMatch: 'W/"abc"' }, v)).toBe('failed');
    expect(evaluatePreconditions({ ifMatch: '"nope"' }, v)).toBe('failed');
  });

  it('If-Unmodified-Since fails when modified after the date, and is ignored when If-Match is present', () => {
    expect(evaluatePreconditions({ ifUnmodifiedSince: before }, v)).toBe('failed');
    expect(evaluatePreconditions({ ifUnmodifiedSince: same }, v)).toBe('proceed');
    expect(evaluatePreconditions({ ifMatch: '"abc"', ifUnmodifiedSince: before }, v)).toBe('proceed');
  });

  it('checks If-Match before If-None-Match', () => {
    expect(evaluatePreconditions({ ifMatch: '"nope"', ifNoneMatch: '"abc"' }, v)).toBe('failed');
  });
});

describe('ifRangeAllows (RFC 9110 §13.1.5)', () => {
  const v = { etag: '"abc"', lastModified: new Date('2024-05-01T10:00:00Z') };
  it('allows the range for a strongly matching etag or the exact Last-Modified date', () => {
    expect(ifRangeAllows(undefined, v)).toBe(true);
    expect(ifRangeAllows('"abc"', v)).toBe(true);
    expect(ifRangeAllows('Wed, 01 May 2024 10:00:00 GMT', v)).toBe(true);
  });
  it('refuses it for a weak or other etag, another date or garbage', () => {
    expect(ifRangeAllows('W/"abc"', v)).toBe(false);
    expect(ifRangeAllows('"other"', v)).toBe(false);
    expect(ifRangeAllows('Wed, 01 May 2024 10:00:01 GMT', v)).toBe(false);
    expect(ifRangeAllows('soon', v)).toBe(false);
  });
});

describe('httpDateSeconds (RFC 9110 §5.6.7)', () => {
  it('reads IMF-fixdate, rfc850-date and asctime-date as GMT', () => {
    const t = Date.UTC(1994, 10, 6, 8, 49, 37) / 1000;
    expect(httpDateSeconds('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(t);
    expect(httpDateSeconds('Sunday, 06-Nov-94 08:49:37 GMT')).toBe(t);
    expect(httpDateSeconds('Sun Nov  6 08:49:37 1994')).toBe(t);
    expect(httpDateSeconds('2024-05-01')).toBeUndefined();
  });
});
