import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { EnvError, envAssignments } from './config-env.ts';
import { closest } from './util/suggest.ts';
import { EVENT_TYPES } from './hooks/events.ts';
import { parseDuration, parseSize } from './util/units.ts';

const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return parseSize(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return parseDuration(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const bool = z.union([z.boolean(), z.enum(['true', 'false'])]).transform((v) => v === true || v === 'true');
const port = z.coerce.number({ error: 'must be a port number (0-65535)' }).int('must be a whole number').min(0).max(65535);
const url = z.string().url({ error: 'must be an absolute http(s) URL' }).transform((u) => u.replace(/\/+$/, ''));
// Empty: AWS (endpoint) or the same as the endpoint (publicEndpoint).
const endpoint = z
  .string()
  .refine((v) => v === '' || (/^https?:\/\//i.test(v) && URL.canParse(v)), 'must be empty (AWS) or an absolute http(s) URL such as http://127.0.0.1:9000')
  .transform((u) => u.replace(/\/+$/, ''));

// A Standard Webhooks secret: `whsec_` + base64 of the key (what standardwebhooks' Webhook accepts).
const webhookSecret = z.string().refine((v) => {
  try {
    return /^whsec_[A-Za-z0-9+/]{22,}={0,2}$/.test(v) && Boolean(new Webhook(v));
  } catch {
    return false;
  }
}, 'must be a Standard Webhooks secret: whsec_ followed by the base64 of at least 16 random bytes');
const hooks = z.strictObject({
  preCreate: z.strictObject({ url: z.union([z.literal(''), z.string().url()]), timeout: duration.pipe(z.number().positive()) }),
  webhooks: z.array(z.strictObject({ url: z.string().url(), events: z.array(z.enum(EVENT_TYPES)).min(1), secret: webhookSecret })),
  delivery: z.strictObject({
    timeout: duration.pipe(z.number().positive()),
    concurrency: z.coerce.number().int().min(1).max(256),
    pollInterval: duration.pipe(z.number().min(10)),
    keepDelivered: duration.pipe(z.number().positive()),
  }),
  retry: z.strictObject({
    initialDelay: duration.pipe(z.number().positive()),
    maxDelay: duration.pipe(z.number().positive()),
    maxAge: duration.pipe(z.number().positive()),
  }),
});

// strictObject everywhere: a mistyped key (`server.prot`, `storgae:`) is refused, never ignored.
const shape = z
  .strictObject({
    server: z.strictObject({
      host: z.string().min(1),
      port,
      // Empty: derived from host and port (derivePublicUrl).
      publicUrl: z.union([z.literal(''), url]),
      trustProxy: bool,
      requestTimeout: duration,
      shutdownTimeout: duration,
      maxHeaderSize: size,
    }),
    tus: z.strictObject({
      path: z.string().regex(/^\/[A-Za-z0-9._~\-/]*[A-Za-z0-9._~-]$/, 'must start with / and not end with /'),
      datastore: z.enum(['file', 's3']),
      file: z.strictObject({ directory: z.string().min(1) }),
      maxSize: size.pipe(z.number().positive()),
      expiration: duration.pipe(z.number().positive()),
      partSize: size.pipe(z.number().min(5 * 2 ** 20, 'must be at least 5MiB (the S3 minimum part size)')),
      maxMetadataSize: size.pipe(z.number().min(256)),
      cleanupInterval: duration.pipe(z.number().positive()),
    }),
    storage: z.strictObject({
      backend: z.enum(['localfs', 's3']),
      localfs: z.strictObject({ root: z.string().min(1) }),
      s3: z.strictObject({
        endpoint,
        // The endpoint written into presigned S3 URLs, when browsers reach S3 by another name.
        publicEndpoint: endpoint,
        bucket: z.string(),
        region: z.string().min(1),
        forcePathStyle: bool,
        checksums: z.enum(['when_required', 'when_supported']),
        accessKey: z.string(),
        secretKey: z.string(),
        tusPrefix: z.string().regex(/^([^/]+\/)*$/, 'must be empty or end with /'),
      }),
    }),
    signing: z.strictObject({
      // An HMAC key shorter than its 32-byte output can be guessed faster than the MAC can be forged.
      secret: z.string().refine((v) => v === '' || Buffer.byteLength(v, 'utf8') >= 32, {
        message: 'must be at least 32 bytes (e.g. `openssl rand -hex 32`), or empty for a random one per process',
      }),
      maxTtl: duration.pipe(z.number().min(1000)),
    }),
    redis: z.strictObject({ url: z.string() }),
    log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) }),
    hooks,
  })
  .superRefine((c, ctx) => {
    // The bucket matters only when something lives in S3.
    const usesS3 = c.tus.datastore === 's3' || c.storage.backend === 's3';
    if (usesS3 && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(c.storage.s3.bucket)) {
      ctx.addIssue({ code: 'custom', path: ['storage', 's3', 'bucket'], message: `not a valid S3 bucket name: "${c.storage.s3.bucket}"` });
    }
    // The s3 datastore's incomplete uploads share the bucket with the objects: they need a prefix of their own.
    if (c.tus.datastore === 's3' && c.storage.backend === 's3' && c.storage.s3.tusPrefix === '') {
      ctx.addIssue({ code: 'custom', path: ['storage', 's3', 'tusPrefix'], message: 'must not be empty when uploads and objects share the bucket' });
    }
  });
const schema = shape.transform((c) => ({ ...c, server: { ...c.server, publicUrl: c.server.publicUrl || derivePublicUrl(c.server.host, c.server.port) } }));

/** `http://localhost:{port}` for a wildcard host, else `http://{host}:{port}`: what `publicUrl` is when not set. */
export function derivePublicUrl(host: string, port: number): string {
  const wildcard = host === '0.0.0.0' || host === '::' || host === '[::]';
  const name = wildcard ? 'localhost' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${name}:${port}`;
}

/** The dotted path of every leaf field: what the `UGW_*` rule can set. */
function leafPaths(node: z.ZodType, prefix: string): string[] {
  if (!(node instanceof z.ZodObject)) return [prefix];
  return Object.entries(node.shape as Record<string, z.ZodType>).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}
const configFields: readonly string[] = leafPaths(shape, '');

/** The keys a mapping at `path` may have (for "did you mean"). */
function keysAt(path: readonly PropertyKey[]): string[] {
  let node: z.ZodType = shape;
  for (const seg of path) {
    if (!(node instanceof z.ZodObject)) return [];
    node = (node.shape as Record<string, z.ZodType>)[String(seg)]!;
  }
  return node instanceof z.ZodObject ? Object.keys(node.shape) : [];
}

type DeepReadonly<T> = { readonly [K in keyof T]: T[K] extends object ? DeepReadonly<T[K]> : T[K] };
export type Config = DeepReadonly<z.output<typeof schema>>;

/** A bad configuration: `message` is one line naming the field and what is wrong. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type Env = Readonly<Record<string, string | undefined>>;

/** The YAML texts a configuration is built from: defaults always, the CONFIG_FILE overlay if set. */
export interface ConfigSources {
  defaults: string;
  overlay?: { name: string; text: string };
}

/** `${VAR}` and `${VAR:-default}` in a string, from env. An unset `${VAR}` without default is an error. */
function interpolate(text: string, env: Env, where: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`${where}: environment variable ${name} is not set (write \${${name}:-default} to allow that)`);
  });
}

const noFiles = (path: string): string => {
  throw new Error(`no file reader given to loadConfig (for ${path})`);
};

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isTree(v) && isTree(out[k]) ? deepMerge(out[k] as Tree, v) : v;
  return out;
}

function interpolateTree(value: unknown, env: Env, path: string): unknown {
  if (typeof value === 'string') return interpolate(value, env, path);
  if (Array.isArray(value)) return value.map((v, i) => interpolateTree(v, env, `${path}[${i}]`));
  if (isTree(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateTree(v, env, path ? `${path}.${k}` : k)]));
  }
  return value;
}

function parseDoc(text: string, name: string): Tree {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${name}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc == null) return {};
  if (!isTree(doc)) throw new ConfigError(`${name}: must be a YAML mapping`);
  return doc;
}

function deepFreeze<T>(o: T): T {
  if (isTree(o)) for (const v of Object.values(o)) deepFreeze(v);
  return Object.freeze(o);
}

/**
 * Builds the one validated, frozen Config from YAML texts and the environment.
 * Pure: reads no global state, and files (`*_FILE` secrets) only through `readFile`, passed in.
 * Environment rules: config-env.ts. Throws ConfigError with one line naming the bad field.
 */
export function loadConfig(env: Env, sources: ConfigSources, readFile: (path: string) => string = noFiles): Config {
  let tree = parseDoc(sources.defaults, 'config/default.yaml');
  if (sources.overlay) tree = deepMerge(tree, parseDoc(sources.overlay.text, sources.overlay.name));
  tree = interpolateTree(tree, env, '') as Tree;
  let assignments;
  try {
    assignments = envAssignments(env, configFields, readFile);
  } catch (err) {
    if (err instanceof EnvError) throw new ConfigError(`invalid configuration: ${err.message}`);
    throw err;
  }
  const via = new Map<string, string>();
  for (const { path, value, from } of assignments) {
    const segs = path.split('.');
    let node = tree;
    for (const seg of segs.slice(0, -1)) node = isTree(node[seg]) ? (node[seg] as Tree) : (node[seg] = {});
    node[segs[segs.length - 1]!] = value;
    via.set(path, from);
  }
  const parsed = schema.safeParse(tree);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0]!;
      const field = [...issue.path, key].join('.');
      const hint = closest(key, keysAt(issue.path));
      throw new ConfigError(`invalid configuration: ${field}: unknown key${hint ? ` (did you mean ${[...issue.path, hint].join('.')}?)` : ''}`);
    }
    const field = issue.path.join('.') || '(root)';
    const from = via.get(field);
    throw new ConfigError(`invalid configuration: ${field}: ${issue.message}${from ? ` (from env ${from})` : ''}`);
  }
  return deepFreeze(parsed.data) as Config;
}

/** Reads config/default.yaml and the CONFIG_FILE overlay from disk (the impure half of loadConfig). */
export function readConfigSources(env: Env, cwd = process.cwd()): ConfigSources {
  const defaultsPath = resolve(cwd, 'config/default.yaml');
  const read = (path: string, what: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const sources: ConfigSources = { defaults: read(defaultsPath, 'config/default.yaml') };
  if (env.CONFIG_FILE) sources.overlay = { name: env.CONFIG_FILE, text: read(resolve(cwd, env.CONFIG_FILE), 'CONFIG_FILE') };
  return sources;
}
