import { closest } from './util/suggest.ts';

/**
 * How the environment sets configuration fields (documented in README "Configuration"):
 *
 * - The generic rule, for every field: `UGW_` + the path's segments in SNAKE_CASE,
 *   joined by `__` — `server.port` ← `UGW_SERVER__PORT`, `tus.maxSize` ← `UGW_TUS__MAX_SIZE`,
 *   `storage.s3.publicEndpoint` ← `UGW_STORAGE__S3__PUBLIC_ENDPOINT`. A `UGW_*` name that
 *   names no field is refused.
 * - The named variables of the quick start (PORT, HOST, S3_*, …), kept as shorthands.
 * - `NAME_FILE`: the value is read from that file (a Docker/Kubernetes secret), for
 *   every `UGW_*` name and for the named secrets. One trailing newline is dropped.
 *
 * Later wins: YAML < named variables < `UGW_*`.
 */
const ENV_PREFIX = 'UGW_';

const namedEnv: ReadonlyArray<readonly [string, string]> = [
  ['PORT', 'server.port'],
  ['HOST', 'server.host'],
  ['PUBLIC_URL', 'server.publicUrl'],
  ['STORAGE_BACKEND', 'storage.backend'],
  ['TUS_DATASTORE', 'tus.datastore'],
  ['S3_ENDPOINT', 'storage.s3.endpoint'],
  ['S3_PUBLIC_ENDPOINT', 'storage.s3.publicEndpoint'],
  ['S3_BUCKET', 'storage.s3.bucket'],
  ['S3_REGION', 'storage.s3.region'],
  ['S3_ACCESS_KEY', 'storage.s3.accessKey'],
  ['S3_SECRET_KEY', 'storage.s3.secretKey'],
  ['SIGNING_SECRET', 'signing.secret'],
  ['REDIS_URL', 'redis.url'],
  ['LOG_LEVEL', 'log.level'],
];

/** Named variables that may also come from a file (`S3_SECRET_KEY_FILE`, …): the secrets. */
const namedSecrets = new Set(['S3_ACCESS_KEY', 'S3_SECRET_KEY', 'SIGNING_SECRET', 'REDIS_URL']);

const snake = (segment: string) => segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** `tus.maxSize` → `UGW_TUS__MAX_SIZE`. */
const envNameFor = (path: string): string => ENV_PREFIX + path.split('.').map(snake).join('__');

export class EnvError extends Error {}

export interface EnvAssignment {
  /** Dotted field path, e.g. `server.port`. */
  path: string;
  value: string;
  /** The variable it came from, for error messages. */
  from: string;
}

/**
 * Every field assignment the environment makes, in the order to apply them.
 * `fields` are the dotted paths of every leaf of the schema; `readFile` reads a `*_FILE`.
 */
export function envAssignments(
  env: Readonly<Record<string, string | undefined>>,
  fields: readonly string[],
  readFile: (path: string) => string,
): EnvAssignment[] {
  const set = (name: string) => env[name] !== undefined && env[name] !== '';
  const value = (name: string, allowFile: boolean): string | undefined => {
    const file = `${name}_FILE`;
    if (allowFile && set(file)) {
      if (set(name)) throw new EnvError(`set ${name} or ${file}, not both`);
      let text: string;
      try {
        text = readFile(env[file]!);
      } catch (err) {
        throw new EnvError(`${file}: cannot read ${env[file]}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      return text.replace(/\r?\n$/, '');
    }
    return set(name) ? env[name] : undefined;
  };

  const out: EnvAssignment[] = [];
  for (const [name, path] of namedEnv) {
    const allowFile = namedSecrets.has(name);
    const v = value(name, allowFile);
    if (v !== undefined) out.push({ path, value: v, from: allowFile && set(`${name}_FILE`) ? `${name}_FILE` : name });
  }
  const byName = new Map(fields.map((f) => [envNameFor(f), f]));
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(ENV_PREFIX) || !set(name)) continue;
    const base = name.endsWith('_FILE') && !byName.has(name) ? name.slice(0, -5) : name;
    const path = byName.get(base);
    if (!path) {
      const hint = closest(base, [...byName.keys()]);
      throw new EnvError(`${name}: no configuration field has this name${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
    if (base !== name && set(base)) throw new EnvError(`set ${base} or ${name}, not both`);
    out.push({ path, value: value(base, true)!, from: name });
  }
  return out;
}
