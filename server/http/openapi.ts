import { errorStatus } from '../errors.ts';
import { MAX_LIST_LIMIT } from '../storage/store.ts';

/*
 * The OpenAPI 3.1 description of the gateway's HTTP API (docs/api.md says it in words).
 * A TS module rather than a YAML file: it is built and shipped with the code, nothing to
 * copy or read at run time. test/http/openapi.test.ts validates real answers against it.
 * Served by openapi-route.ts, which imports this module on the first request only.
 */

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => ({ description, content: json(ref('Error')) });
const keyParam = { name: 'key', in: 'path', required: true, description: 'The object key, each segment percent-encoded', schema: { type: 'string' } };
const objectHeaders = {
  'Content-Type': { schema: { type: 'string' } },
  'Content-Length': { schema: { type: 'string', pattern: '^[0-9]+$' } },
  ETag: { schema: { type: 'string', pattern: '^"[^"]+"$' } },
  'Last-Modified': { schema: { type: 'string' } },
  'Accept-Ranges': { schema: { const: 'bytes' } },
  'Content-Disposition': { schema: { type: 'string', pattern: '^attachment' } },
  'Repr-Digest': { description: 'sha-256 of the whole object (RFC 9530)', schema: { type: 'string', pattern: '^sha-256=:' } },
};
const tusHeader = (description: string) => ({ description, schema: { type: 'string' } });

export const openapiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'upload-gateway',
    version: '0.1.0',
    description: 'Resumable uploads (tus 1.0.0) finalized into an S3-semantics Store, and the objects API. See docs/api.md.',
  },
  paths: {
    '/files/': {
      options: { summary: 'tus discovery', responses: { 204: { description: 'Tus-Version, Tus-Extension, Tus-Max-Size', headers: { 'Tus-Version': tusHeader('1.0.0'), 'Tus-Extension': tusHeader('creation,creation-with-upload,creation-defer-length,termination,expiration') } } } },
      post: {
        summary: 'tus creation (and creation-with-upload)',
        parameters: [
          { name: 'Tus-Resumable', in: 'header', required: true, schema: { const: '1.0.0' } },
          { name: 'Upload-Length', in: 'header', schema: { type: 'string', pattern: '^[0-9]+$' } },
          { name: 'Upload-Defer-Length', in: 'header', schema: { const: '1' } },
          { name: 'Upload-Metadata', in: 'header', description: 'filename, filetype, owner, …', schema: { type: 'string' } },
        ],
        responses: {
          201: { description: 'created', headers: { Location: tusHeader('the upload URL'), 'Upload-Expires': tusHeader('RFC 9110 date'), 'Object-Key': tusHeader('when the body completed the upload') } },
          400: error('bad metadata or key'),
          412: error('missing or unsupported Tus-Resumable'),
          413: error('Upload-Length over Tus-Max-Size'),
          503: { description: 'a dependency does not answer; retry after Retry-After seconds', headers: { 'Retry-After': { schema: { type: 'string', pattern: '^[0-9]+$' } } }, content: json(ref('Error')) },
        },
      },
    },
    '/files/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$' } }],
      head: { summary: 'tus offset', responses: { 200: { description: 'Upload-Offset, Upload-Length, and Object-Key once finished' }, 404: { description: 'no such upload' } } },
      patch: {
        summary: 'tus append',
        requestBody: { content: { 'application/offset+octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } },
        responses: { 204: { description: 'Upload-Offset; Object-Key on the last byte' }, 409: error('offset mismatch'), 415: error('wrong Content-Type') },
      },
      delete: { summary: 'tus termination', responses: { 204: { description: 'terminated' } } },
      get: { summary: 'a finished upload redirects to its object', responses: { 302: { description: 'Location: /api/objects/{key}' }, 404: error('unfinished or unknown') } },
    },
    '/api/uploads/{id}': {
      get: {
        summary: 'upload status',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: { description: 'status', content: json(ref('UploadStatus')) }, 404: error('NoSuchUpload') },
      },
    },
    '/api/objects': {
      get: {
        summary: 'list objects in key order',
        parameters: [
          { name: 'prefix', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT } },
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
        ],
        responses: { 200: { description: 'a page', content: json(ref('ObjectList')) }, 400: error('InvalidArgument') },
      },
    },
    '/api/objects/{key}': {
      parameters: [keyParam],
      get: {
        summary: 'download (Range, If-None-Match)',
        responses: {
          200: { description: 'the object', headers: objectHeaders, content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } },
          206: { description: 'a range', headers: { ...objectHeaders, 'Content-Range': { schema: { type: 'string' } } } },
          304: { description: 'not modified' },
          404: error('NoSuchKey'),
          416: error('InvalidRange'),
        },
      },
      head: { summary: 'the headers of GET', responses: { 200: { description: 'no body', headers: objectHeaders }, 404: { description: 'NoSuchKey' } } },
      delete: { summary: 'delete (204 also when absent)', responses: { 204: { description: 'deleted' } } },
    },
    '/api/presign': {
      post: {
        summary: 'a presigned GET or PUT URL',
        requestBody: { required: true, content: json(ref('PresignRequest')) },
        responses: { 200: { description: 'the URL', content: json(ref('PresignResponse')) }, 400: error('InvalidArgument or InvalidKey'), 413: error('EntityTooLarge') },
      },
    },
    '/storage/{key}': {
      parameters: [keyParam, { name: 'expires', in: 'query', required: true, schema: { type: 'string' } }, { name: 'signature', in: 'query', required: true, schema: { type: 'string' } }],
      get: { summary: 'localfs presigned GET', responses: { 200: { description: 'the object' }, 403: error('SignatureDoesNotMatch or ExpiredToken') } },
      put: { summary: 'localfs presigned PUT (streamed body)', responses: { 200: { description: 'stored' }, 403: error('SignatureDoesNotMatch or ExpiredToken') } },
    },
    '/api/config': { get: { summary: 'what the widget adapts to', responses: { 200: { description: 'tus settings', content: json(ref('WidgetConfig')) } } } },
    '/api/openapi.json': { get: { summary: 'this document', responses: { 200: { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } } } },
    '/healthz': { get: { summary: 'liveness', responses: { 200: { description: 'running', content: json(ref('Health')) } } } },
    '/readyz': {
      get: {
        summary: 'readiness of the Store and the tus datastore (and Redis)',
        responses: { 200: { description: 'ready', content: json(ref('Ready')) }, 503: { description: 'not ready', content: json(ref('NotReady')) } },
      },
    },
    '/metrics': { get: { summary: 'Prometheus text', responses: { 200: { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
  },
  components: {
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        additionalProperties: false,
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            additionalProperties: false,
            properties: { code: { enum: Object.keys(errorStatus) }, message: { type: 'string', minLength: 1 } },
          },
        },
      },
      Metadata: { type: 'object', additionalProperties: { type: 'string' } },
      ObjectInfo: {
        type: 'object',
        required: ['key', 'size', 'contentType', 'etag', 'lastModified', 'metadata'],
        additionalProperties: false,
        properties: {
          key: { type: 'string', minLength: 1, maxLength: 1024 },
          size: { type: 'integer', minimum: 0 },
          contentType: { type: 'string' },
          etag: { type: 'string' },
          lastModified: { type: 'string', format: 'date-time' },
          metadata: ref('Metadata'),
        },
      },
      ObjectList: {
        type: 'object',
        required: ['objects'],
        additionalProperties: false,
        properties: { objects: { type: 'array', items: ref('ObjectInfo') }, nextCursor: { type: 'string' } },
      },
      UploadStatus: {
        type: 'object',
        required: ['id', 'offset', 'status', 'metadata'],
        additionalProperties: false,
        properties: {
          id: { type: 'string' },
          offset: { type: 'integer', minimum: 0 },
          length: { type: 'integer', minimum: 0 },
          status: { enum: ['uploading', 'finalizing', 'done', 'failed'] },
          key: { type: 'string' },
          metadata: ref('Metadata'),
        },
      },
      PresignRequest: {
        type: 'object',
        required: ['key', 'method', 'expiresIn'],
        properties: { key: { type: 'string' }, method: { enum: ['GET', 'PUT'] }, expiresIn: { type: 'integer', minimum: 1 } },
      },
      PresignResponse: {
        type: 'object',
        required: ['url', 'method', 'expiresAt'],
        additionalProperties: false,
        properties: { url: { type: 'string', format: 'uri' }, method: { enum: ['GET', 'PUT'] }, expiresAt: { type: 'string', format: 'date-time' } },
      },
      WidgetConfig: {
        type: 'object',
        required: ['tusEndpoint', 'maxSize', 'partSize', 'datastore'],
        additionalProperties: false,
        properties: { tusEndpoint: { type: 'string' }, maxSize: { type: 'integer' }, partSize: { type: 'integer' }, datastore: { enum: ['file', 's3'] } },
      },
      Health: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } },
      Checks: { type: 'object', additionalProperties: { type: 'string' } },
      Ready: { type: 'object', required: ['status', 'checks'], properties: { status: { const: 'ok' }, checks: ref('Checks') } },
      NotReady: {
        type: 'object',
        required: ['error', 'checks'],
        additionalProperties: false,
        properties: { error: { $ref: '#/components/schemas/Error/properties/error' }, checks: ref('Checks') },
      },
    },
  },
} as const;
