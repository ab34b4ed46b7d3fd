/**
 * The one raw HTTP client of the tests, and the check of the gateway's JSON error shape.
 *
 * Public surface:
 * - `raw(url, options)`: one request over node:http on a fresh connection (unless `agent`),
 *   the path sent exactly as written (fetch would normalise `..`, `%2e%2e`, `\\`), the body
 *   whole, chunked, or none; resolves with status, headers, body, text and parsed JSON.
 * - `errorOf(res)`: the `{"error":{"code","message"}}` of a fetch Response, shape checked.
 */
import { request as httpRequest, type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';


export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

export interface RawOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  /** The whole body, sent with a Content-Length unless one is given in headers. */
  body?: Buffer | string;
  /** Sends the body with Transfer-Encoding: chunked, in these pieces. */
  chunks?: Buffer[];
  /** Sends the request on one of this agent's connections (e.g. a keep-alive one) instead of a fresh one. */
  agent?: Agent;
}

/** One request on a fresh connection (no keep-alive, so requests never queue behind each other), unless `agent` is given. */
export function raw(url: string, options: RawOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: OutgoingHttpHeaders = { ...options.headers };
    const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
    if (body && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) headers['Content-Length'] = body.length;
    // The path goes out exactly as written: WHATWG URL parsing would resolve `/.`, `%2E%2E` and a backslash.
    const m = /^http:\/\/([^/:]+):(\d+)(.*)$/.exec(url);
    if (!m) throw new Error(`raw(): not an http://host:port URL: ${url}`);
    const target = { host: m[1], port: Number(m[2]), path: m[3] || '/' };
    const req = httpRequest({ ...target, method: options.method ?? 'GET', headers, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, text, json });
      });
    });
    req.on('error', reject);
    if (options.chunks) {
      for (const c of options.chunks) req.write(c);
      req.end();
    } else {
      req.end(body);
    }
  });
}

/** The parsed JSON error of a fetch Response, after checking its shape: `{"error":{"code","message"}}`. */
export async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  if (!res.headers.get('content-type')?.startsWith('application/json')) {
    throw new Error(`expected a JSON error, got ${res.status} ${res.headers.get('content-type')}: ${await res.text()}`);
  }
  const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
  if (typeof body.error?.code !== 'string' || typeof body.error.message !== 'string' || body.error.message === '') {
    throw new Error(`not the gateway's error shape: ${JSON.stringify(body)}`);
  }
  return { code: body.error.code, message: body.error.message };
}
