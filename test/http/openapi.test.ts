import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openapiDocument } from '../../server/http/openapi.ts';
import { startGateway } from '../support/gateway.ts';

type Gw = Awaited<ReturnType<typeof startGateway>>;
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

describe('the OpenAPI 3.1 document and real answers', () => {
  let gw: Gw;
  let doc: typeof openapiDocument;
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));

  /** Validates `value` against a schema of the served document, failing with ajv's reasons. */
  function check(schemaPath: string, value: unknown): void {
    const validate = ajv.getSchema(`https://gateway.invalid/openapi#${schemaPath}`);
    expect(validate, schemaPath).toBeTypeOf('function');
    const ok = validate!(value);
    expect(ok ? [] : validate!.errors, `${schemaPath}: ${JSON.stringify(value)}`).toEqual([]);
  }
  const schemaOf = (name: string) => `/components/schemas/${name}`;

  beforeAll(async () => {
    gw = await startGateway();
    const res = await fetch(`${gw.url}/api/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = (await res.json()) as typeof openapiDocument;
    ajv.addSchema({ ...doc, $id: 'https://gateway.invalid/openapi' });
  });
  afterAll(async () => gw?.close());

  it('is a valid OpenAPI 3.1 document (@seriousme/openapi-schema-validator)', async () => {
    const result = await new Validator().validate(doc as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
  });

  it('a real upload, its status, the object list, HEAD/GET headers, presign, config, health and errors match it', async () => {
    const meta = `filename ${Buffer.from('spec.onnx').toString('base64')},owner ${Buffer.from('openapi').toString('base64')}`;
    const created = await fetch(`${gw.url}/files/`, { method: 'POST', headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '11', 'Upload-Metadata': meta } });
    expect(created.status).toBe(201);
    const location = created.headers.get('location')!;
    const id = location.split('/').pop()!;
    expect(id).toMatch(new RegExp(openapiDocument.paths['/files/{id}'].parameters[0].schema.pattern));

    const status = await fetch(`${gw.url}/api/uploads/${id}`);
    expect(status.status).toBe(200);
    check(schemaOf('UploadStatus'), await status.json());

    const patch = await fetch(new URL(location, gw.url), {
      method: 'PATCH',
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: 'hello world',
    });
    expect(patch.status).toBe(204);
    const done = await (await fetch(`${gw.url}/api/uploads/${id}`)).json();
    check(schemaOf('UploadStatus'), done);
    expect(done).toMatchObject({ status: 'done', key: 'models/openapi/spec.onnx' });

    const list = await fetch(`${gw.url}/api/objects?prefix=models/openapi/`);
    const page = (await list.json()) as { objects: unknown[] };
    check(schemaOf('ObjectList'), page);
    expect(page.objects).toHaveLength(1);

    for (const method of ['HEAD', 'GET'] as const) {
      const res = await fetch(`${gw.url}/api/objects/models/openapi/spec.onnx`, { method });
      expect(res.status).toBe(200);
      const declared = openapiDocument.paths['/api/objects/{key}'][method === 'GET' ? 'get' : 'head'].responses[200].headers;
      for (const [name, { schema }] of Object.entries(declared)) {
        const value = res.headers.get(name);
        expect(value, `${method} ${name}`).not.toBeNull();
        const ok = ajv.validate(schema, value);
        expect(ok ? [] : ajv.errors, `${method} ${name}: ${value}`).toEqual([]);
      }
      await res.arrayBuffer();
    }

    const presigned = await fetch(`${gw.url}/api/presign`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ key: 'models/openapi/spec.onnx', method: 'GET', expiresIn: 60 }),
    });
    expect(presigned.status).toBe(200);
    check(schemaOf('PresignResponse'), await presigned.json());

    check(schemaOf('WidgetConfig'), await (await fetch(`${gw.url}/api/config`)).json());
    check(schemaOf('Health'), await (await fetch(`${gw.url}/healthz`)).json());
    check(schemaOf('Ready'), await (await fetch(`${gw.url}/readyz`)).json());

    // Errors, from every kind of route: each one has the Error shape and a code the document lists.
    const errorAnswers = await Promise.all([
      fetch(`${gw.url}/api/objects/models/openapi/missing.onnx`),
      fetch(`${gw.url}/api/uploads/unknown-id`),
      fetch(`${gw.url}/api/objects?limit=0`),
      fetch(`${gw.url}/api/presign`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"key":"a","method":"POST","expiresIn":1}' }),
      fetch(`${gw.url}/files/`, { method: 'POST', headers: { 'Upload-Length': '1' } }),
      fetch(`${gw.url}/storage/models/openapi/spec.onnx?expires=1&signature=00`),
      fetch(`${gw.url}/nowhere`),
    ]);
    expect(errorAnswers.map((r) => r.status)).toEqual([404, 404, 400, 400, 412, 403, 404]);
    for (const res of errorAnswers) check(schemaOf('Error'), await res.json());

    // A schema that does not fit must fail: the check above can fail.
    const validate = ajv.getSchema(`https://gateway.invalid/openapi#${schemaOf('UploadStatus')}`)!;
    expect(validate({ ...done, offset: -1 })).toBe(false);
  });
});
