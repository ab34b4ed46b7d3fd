import { describe, expect, it } from 'vitest';
import { codeForStatus, errors, errorStatus, GatewayError, toGatewayError } from '../../server/errors.ts';
import { sourceFiles } from './source-files.ts';

const server = sourceFiles('server', ['.ts']);

describe('server/errors.ts is the one place errors are made', () => {
  it('no file under server/ but errors.ts constructs a GatewayError', () => {
    const offenders = server.filter(([path, text]) => path !== 'server/errors.ts' && /new\s+GatewayError\s*\(/.test(text)).map(([p]) => p);
    expect(offenders).toEqual([]);
  });

  it('reads the whole tree (the check above is not vacuous)', () => {
    expect(server.length).toBeGreaterThan(50);
    expect(server.some(([path]) => path === 'server/errors.ts')).toBe(true);
  });

  it('every error code written in server/ has an entry in the code table', () => {
    const known = new Set(Object.keys(errorStatus));
    const used = new Map<string, string>();
    for (const [path, text] of server) {
      // `code: 'X'` in an error body, `err.code === 'X'` checks, `423: 'X'` status tables and translated('X', …) in adapters.
      for (const m of text.matchAll(/(?:\bcode\s*(?::|===|!==)\s*|\b[1-5]\d\d\s*:\s*|translated\(\s*)'([A-Z][a-z][A-Za-z]+)'/g)) used.set(m[1]!, path);
    }
    expect(used.size).toBeGreaterThan(10);
    const unknown = [...used].filter(([code]) => !known.has(code));
    expect(unknown).toEqual([]);
  });

  it('every status a library may answer maps to a code in the table', () => {
    for (const status of [400, 401, 403, 404, 405, 409, 410, 411, 412, 413, 415, 416, 422, 423, 429, 460, 500, 502, 503, 504]) {
      expect(errorStatus, String(status)).toHaveProperty(codeForStatus(status));
    }
    expect(codeForStatus(423)).toBe('Locked');
    expect(codeForStatus(460)).toBe('ChecksumMismatch');
    expect(codeForStatus(502)).toBe('InternalError');
  });

  it('every factory builds a GatewayError whose status comes from the table (or the library)', () => {
    const built: GatewayError[] = [
      errors.noSuchKey('a/b'), errors.noSuchUpload(), errors.notFound('x'), errors.noRoute('GET', '/x'),
      errors.invalidKey('x'), errors.invalidArgument('x'), errors.invalidUploadMetadata('x'), errors.invalidRange(5),
      errors.accessDenied('x'), errors.symlinkOnPath('a'), errors.signatureDoesNotMatch(), errors.badDigest('a', 'b'),
      errors.expiredToken(), errors.methodNotAllowed('x', 'GET'), errors.conflict('x'), errors.keyClash('a'),
      errors.gone('x'), errors.preconditionFailed(), errors.tusVersionRequired('1.0.0'), errors.entityTooLarge(1),
      errors.unsupportedMediaType('x'), errors.checksumMismatch('x'), errors.internal('x'),
      errors.translated('InvalidKey', 'x', new Error('x')), errors.unavailable('x'), errors.serviceUnavailable('x', 1),
      errors.hookUnavailable('x'),
    ];
    for (const gw of built) {
      expect(gw).toBeInstanceOf(GatewayError);
      expect(gw.status, gw.code).toBe(errorStatus[gw.code]);
      expect(gw.toJSON()).toEqual({ error: { code: gw.code, message: gw.message } });
      expect(gw.message.length, gw.code).toBeGreaterThan(0);
    }
    expect(errors.hookRefused(418, 'no').status).toBe(418);
    expect(errors.methodNotAllowed('x', 'GET, HEAD').headers).toEqual({ Allow: 'GET, HEAD' });
    expect(errors.entityTooLarge(1, { closeConnection: true }).headers).toEqual({ Connection: 'close' });
    expect(errors.invalidRange(7).headers).toEqual({ 'Content-Range': 'bytes */7' });
    expect(errors.invalidRange().headers).toEqual({});
    expect(errors.tusVersionRequired('1.0.0').headers).toMatchObject({ 'Tus-Version': '1.0.0' });
  });

  it('a @tus/server answer keeps its status and becomes a JSON code', () => {
    const locked = errors.fromTus({ status_code: 423, body: 'file currently locked\n' });
    expect([locked.status, locked.code, locked.message]).toEqual([423, 'Locked', 'file currently locked']);
    expect(errors.fromTus({ status_code: 404, body: 'x' }).code).toBe('NoSuchUpload');
    const odd = errors.fromTus({ status_code: 418, body: 'teapot' });
    expect([odd.status, odd.code]).toEqual([418, 'InvalidRequest']);
  });

  it('an error from a library that carries status/expose keeps them; anything else is a bare InternalError', () => {
    // As http-errors (Koa's ctx.throw, co-body, raw-body) builds them.
    const tooLarge = Object.assign(new Error('request entity too large'), { status: 413, statusCode: 413, expose: true, type: 'entity.too.large' });
    const a = toGatewayError(tooLarge);
    expect([a.status, a.code, a.message, a.cause]).toEqual([413, 'EntityTooLarge', 'request entity too large', tooLarge]);
    const unsupported = toGatewayError(Object.assign(new Error('unsupported content encoding "br"'), { status: 415, expose: true }));
    expect([unsupported.status, unsupported.code]).toEqual([415, 'UnsupportedMediaType']);
    // Not exposed: the library's message is not for the client.
    const hidden = toGatewayError(Object.assign(new Error('secret detail'), { status: 400, expose: false }));
    expect([hidden.status, hidden.code, hidden.message]).toEqual([400, 'InvalidArgument', 'bad request']);
    const fault = toGatewayError(Object.assign(new Error('db password wrong'), { status: 502, expose: false }));
    expect([fault.status, fault.code, fault.message]).toEqual([502, 'InternalError', 'internal error']);
    const plain = toGatewayError(new TypeError('x is undefined'));
    expect([plain.status, plain.code, plain.message]).toEqual([500, 'InternalError', 'internal error']);
    // A status outside 4xx/5xx is not an HTTP answer.
    expect(toGatewayError(Object.assign(new Error('x'), { status: 200 })).status).toBe(500);
    const own = errors.conflict('mine');
    expect(toGatewayError(own)).toBe(own);
  });
});
