import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config, type ConfigSources, type Env } from '../server/config.ts';

const defaults = readFileSync(fileURLToPath(new URL('../config/default.yaml', import.meta.url)), 'utf8');

const load = (env: Env = {}, overlay?: string): Config => {
  const sources: ConfigSources = { defaults };
  if (overlay !== undefined) sources.overlay = { name: 'overlay.yaml', text: overlay };
  return loadConfig(env, sources);
};

/** Runs `fn`, expects a ConfigError, and returns its message (which must be one line). */
function configError(fn: () => unknown): string {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const message = (caught as ConfigError).message;
  expect(message).not.toContain('\n');
  expect(message.length).toBeGreaterThan(0);
  return message;
}

describe('loadConfig', () => {
  it('gives the embedded defaults of docs/api.md §1 with no environment and no overlay', () => {
    const c = load();
    expect(c.server.port).toBe(3001);
    expect(c.server.host).toBe('127.0.0.1');
    // The default host is loopback now (docs/api.md §7), so the derived publicUrl names it.
    expect(c.server.publicUrl).toBe('http://127.0.0.1:3001');
    expect(c.server.trustProxy).toBe(false);
    expect(c.tus.path).toBe('/files');
    expect(c.tus.datastore).toBe('file');
    expect(c.tus.file.directory).toBe('./data/tus');
    expect(c.tus.maxSize).toBe(20 * 2 ** 30);
    expect(c.tus.expiration).toBe(24 * 3600 * 1000);
    expect(c.tus.partSize).toBe(8 * 2 ** 20);
    expect(c.storage.backend).toBe('localfs');
    expect(c.storage.localfs.root).toBe('./data/storage');
    expect(c.storage.s3).toMatchObject({
      endpoint: '',
      bucket: 'visiona-models',
      region: 'us-east-1',
      forcePathStyle: true,
      checksums: 'when_required',
      accessKey: '',
      secretKey: '',
    });
    expect(c.signing.secret).toBe('');
    expect(c.signing.maxTtl).toBe(7 * 86400 * 1000);
  });

  it('is pure: the same inputs give equal results and the environment passed in is not touched', () => {
    const env = Object.freeze({ PORT: '4000' });
    expect(load(env)).toEqual(load(env));
    expect(load()).toEqual(load());
    expect(load().server.port).toBe(3001);
  });

  it('returns a deeply frozen object', () => {
    const c = load();
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.server)).toBe(true);
    expect(Object.isFrozen(c.tus.file)).toBe(true);
    expect(Object.isFrozen(c.storage.s3)).toBe(true);
    expect(() => {
      (c.server as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(c.server.port).toBe(3001);
  });

  it('merges the overlay over the defaults field by field, keeping the fields it does not name', () => {
    const c = load({}, 'server:\n  port: 8080\nstorage:\n  backend: s3\n  s3:\n    bucket: other-bucket\n');
    expect(c.server.port).toBe(8080);
    expect(c.server.host).toBe('127.0.0.1');
    expect(c.storage.backend).toBe('s3');
    expect(c.storage.s3.bucket).toBe('other-bucket');
    expect(c.storage.s3.region).toBe('us-east-1');
    expect(c.storage.localfs.root).toBe('./data/storage');
  });

  it('accepts an empty overlay', () => {
    expect(load({}, '')).toEqual(load());
  });

  it('interpolates ${VAR} from the environment', () => {
    const c = load({ ROOT_DIR: '/srv/objects' }, 'storage:\n  localfs:\n    root: ${ROOT_DIR}/v1\n');
    expect(c.storage.localfs.root).toBe('/srv/objects/v1');
  });

  it('interpolates ${VAR:-default} with the default when VAR is unset or empty, and VAR when set', () => {
    const overlay = 'tus:\n  file:\n    directory: ${TUS_DIR:-/tmp/tus-default}\n';
    expect(load({}, overlay).tus.file.directory).toBe('/tmp/tus-default');
    expect(load({ TUS_DIR: '' }, overlay).tus.file.directory).toBe('/tmp/tus-default');
    expect(load({ TUS_DIR: '/var/tus' }, overlay).tus.file.directory).toBe('/var/tus');
  });

  it('interpolates the defaults file too (S3 keys, signing secret, log level)', () => {
    const c = load({ LOG_LEVEL: 'debug' });
    expect(c.log.level).toBe('debug');
  });

  it('refuses an unset ${VAR} without default, naming the field and the variable', () => {
    const message = configError(() => load({}, 'storage:\n  localfs:\n    root: ${NOT_SET_ANYWHERE}\n'));
    expect(message).toContain('storage.localfs.root');
    expect(message).toContain('NOT_SET_ANYWHERE');
  });

  describe('env overrides (docs/api.md §1)', () => {
    const cases: Array<[string, string, (c: Config) => unknown, unknown]> = [
      ['PORT', '4242', (c) => c.server.port, 4242],
      ['HOST', '127.0.0.1', (c) => c.server.host, '127.0.0.1'],
      ['PUBLIC_URL', 'https://models.example.com', (c) => c.server.publicUrl, 'https://models.example.com'],
      ['STORAGE_BACKEND', 's3', (c) => c.storage.backend, 's3'],
      ['TUS_DATASTORE', 's3', (c) => c.tus.datastore, 's3'],
      ['S3_ENDPOINT', 'http://127.0.0.1:7480', (c) => c.storage.s3.endpoint, 'http://127.0.0.1:7480'],
      ['S3_BUCKET', 'my-models', (c) => c.storage.s3.bucket, 'my-models'],
      ['S3_REGION', 'eu-west-3', (c) => c.storage.s3.region, 'eu-west-3'],
      ['S3_ACCESS_KEY', 'AKIAEXAMPLE', (c) => c.storage.s3.accessKey, 'AKIAEXAMPLE'],
      ['S3_SECRET_KEY', 's3cr3t/with+chars', (c) => c.storage.s3.secretKey, 's3cr3t/with+chars'],
      ['SIGNING_SECRET', 'hmac-secret-hmac-secret-hmac-secret', (c) => c.signing.secret, 'hmac-secret-hmac-secret-hmac-secret'],
    ];
    for (const [name, value, pick, expected] of cases) {
      it(`${name} overrides its field, over the overlay as well`, () => {
        expect(pick(load({ [name]: value }))).toEqual(expected);
        // The overlay says otherwise; the env variable still wins.
        const overlay =
          'server: { port: 5000, host: 10.0.0.1, publicUrl: "http://overlay.example" }\n' +
          'tus: { datastore: file }\n' +
          'storage: { backend: localfs, s3: { endpoint: "http://overlay:9000", bucket: overlay-bucket, region: ap-south-1, accessKey: ok, secretKey: os } }\n' +
          'signing: { secret: overlay-secret-overlay-secret-overlay }\n' +
          'auth: { allowAnonymous: true }\n'; // open mode on a non-loopback host must be asked for
        expect(pick(load({ [name]: value }, overlay))).toEqual(expected);
      });
    }

    it('ignores an override that is set but empty', () => {
      expect(load({ PORT: '' }).server.port).toBe(3001);
    });

    it('removes a trailing slash from PUBLIC_URL', () => {
      expect(load({ PUBLIC_URL: 'https://models.example.com/' }).server.publicUrl).toBe('https://models.example.com');
    });
  });

  describe('refuses bad values with one ConfigError line naming the field', () => {
    it('port "abc" (from env PORT)', () => {
      const message = configError(() => load({ PORT: 'abc' }));
      expect(message).toContain('server.port');
      expect(message).toContain('PORT');
    });

    it('a signing.secret shorter than 32 bytes (empty stays allowed: a random one per process)', () => {
      const message = configError(() => load({ SIGNING_SECRET: 'x'.repeat(31) }));
      expect(message).toContain('signing.secret');
      expect(message).toContain('32 bytes');
      expect(message).not.toContain('x'.repeat(31)); // the secret itself never reaches a message
      expect(load({ SIGNING_SECRET: 'x'.repeat(32) }).signing.secret).toBe('x'.repeat(32));
      expect(load({}).signing.secret).toBe('');
    });

    it('an empty storage.s3.tusPrefix when uploads and objects share the bucket', () => {
      const s3 = { STORAGE_BACKEND: 's3', TUS_DATASTORE: 's3' };
      expect(configError(() => load(s3, 'storage: { s3: { tusPrefix: "" } }\n'))).toContain('storage.s3.tusPrefix');
      expect(load(s3).storage.s3.tusPrefix).toBe('.tus/');
    });

    it('port "abc" (from the overlay)', () => {
      expect(configError(() => load({}, 'server:\n  port: abc\n'))).toContain('server.port');
    });

    it('port out of range', () => {
      expect(configError(() => load({ PORT: '70000' }))).toContain('server.port');
    });

    it('tus datastore "ftp"', () => {
      const message = configError(() => load({ TUS_DATASTORE: 'ftp' }));
      expect(message).toContain('tus.datastore');
      expect(message).toContain('TUS_DATASTORE');
    });

    it('storage backend "gcs"', () => {
      expect(configError(() => load({ STORAGE_BACKEND: 'gcs' }))).toContain('storage.backend');
    });

    it('partSize 1MiB (below the S3 minimum part size)', () => {
      const message = configError(() => load({}, 'tus:\n  partSize: 1MiB\n'));
      expect(message).toContain('tus.partSize');
      expect(message).toMatch(/5\s*MiB/);
    });

    it('maxSize "lots"', () => {
      const message = configError(() => load({}, 'tus:\n  maxSize: lots\n'));
      expect(message).toContain('tus.maxSize');
      expect(message).toContain('lots');
    });

    it('expiration "soon"', () => {
      expect(configError(() => load({}, 'tus:\n  expiration: soon\n'))).toContain('tus.expiration');
    });

    it('publicUrl that is not a URL', () => {
      expect(configError(() => load({ PUBLIC_URL: 'not a url' }))).toContain('server.publicUrl');
    });

    it('bad YAML in the overlay, naming the file', () => {
      const message = configError(() => load({}, 'server:\n  port: [3001\n  host: x\n'));
      expect(message).toContain('overlay.yaml');
      expect(message).toMatch(/YAML/);
    });

    it('an overlay that is not a mapping', () => {
      expect(configError(() => load({}, '- a\n- b\n'))).toContain('overlay.yaml');
    });

    it('bad YAML in the defaults, naming the file', () => {
      const message = configError(() => loadConfig({}, { defaults: 'server: {port: 3001\n' }));
      expect(message).toContain('default.yaml');
    });
  });
});

describe('strict keys, the UGW_* rule, *_FILE secrets, derived publicUrl', () => {
  it('refuses an unknown key with its full path and a suggestion, at every level', () => {
    expect(configError(() => load({}, 'server:\n  prot: 3000\n'))).toBe('invalid configuration: server.prot: unknown key (did you mean server.port?)');
    expect(configError(() => load({}, 'storgae:\n  backend: s3\n'))).toBe('invalid configuration: storgae: unknown key (did you mean storage?)');
    expect(configError(() => load({}, 'storage:\n  s3:\n    publicEndpiont: http://x\n'))).toContain(
      'storage.s3.publicEndpiont: unknown key (did you mean storage.s3.publicEndpoint?)',
    );
    // Nothing close: no suggestion, still refused.
    expect(configError(() => load({}, 'tus:\n  zzzzzzzzzzzz: 1\n'))).toBe('invalid configuration: tus.zzzzzzzzzzzz: unknown key');
  });

  it('sets any field by UGW_ + SNAKE_CASE segments joined by __', () => {
    const c = load({ UGW_SERVER__PORT: '3970', UGW_TUS__MAX_SIZE: '1GiB', UGW_STORAGE__S3__PUBLIC_ENDPOINT: 'http://localhost:9000', UGW_SERVER__TRUST_PROXY: 'true' });
    expect(c.server.port).toBe(3970);
    expect(c.tus.maxSize).toBe(2 ** 30);
    expect(c.storage.s3.publicEndpoint).toBe('http://localhost:9000');
    expect(c.server.trustProxy).toBe(true);
  });

  it('lets UGW_* win over the named variable for the same field, and names the variable of a bad value', () => {
    expect(load({ PORT: '4000', UGW_SERVER__PORT: '4001' }).server.port).toBe(4001);
    const message = configError(() => load({ UGW_TUS__MAX_SIZE: 'lots' }));
    expect(message).toContain('tus.maxSize');
    expect(message).toContain('UGW_TUS__MAX_SIZE');
  });

  it('refuses a UGW_* variable that names no field, with a suggestion', () => {
    expect(configError(() => load({ UGW_SERVER__PROT: '1' }))).toBe(
      'invalid configuration: UGW_SERVER__PROT: no configuration field has this name (did you mean UGW_SERVER__PORT?)',
    );
    expect(configError(() => load({ UGW_NOTHING_LIKE_IT_AT_ALL: '1' }))).toContain('UGW_NOTHING_LIKE_IT_AT_ALL: no configuration field');
  });

  it('reads secrets from *_FILE through the reader it is given, dropping one trailing newline', () => {
    const files: Record<string, string> = { '/run/secrets/s3': 'from-file-secret\n', '/run/secrets/ak': 'AKIAFILE', '/run/secrets/sig': '0123456789abcdef0123456789abcdef-file\n' };
    const read = (path: string) => {
      if (!(path in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return files[path]!;
    };
    const c = loadConfig({ S3_SECRET_KEY_FILE: '/run/secrets/s3', S3_ACCESS_KEY_FILE: '/run/secrets/ak', UGW_SIGNING__SECRET_FILE: '/run/secrets/sig' }, { defaults }, read);
    expect(c.storage.s3.secretKey).toBe('from-file-secret');
    expect(c.storage.s3.accessKey).toBe('AKIAFILE');
    expect(c.signing.secret).toBe('0123456789abcdef0123456789abcdef-file');
    expect(loadConfig({ SIGNING_SECRET_FILE: '/run/secrets/sig' }, { defaults }, read).signing.secret).toBe('0123456789abcdef0123456789abcdef-file');
    const missing = configError(() => loadConfig({ SIGNING_SECRET_FILE: '/run/secrets/none' }, { defaults }, read));
    expect(missing).toBe('invalid configuration: SIGNING_SECRET_FILE: cannot read /run/secrets/none: ENOENT');
    expect(configError(() => loadConfig({ SIGNING_SECRET: 'a', SIGNING_SECRET_FILE: '/run/secrets/sig' }, { defaults }, read))).toContain('not both');
    // Without a reader, loadConfig reads nothing and says so.
    expect(configError(() => load({ SIGNING_SECRET_FILE: '/run/secrets/sig' }))).toContain('SIGNING_SECRET_FILE');
  });

  it('derives publicUrl from PORT and HOST unless it is set', () => {
    expect(load({ PORT: '3970', HOST: '0.0.0.0', AUTH_ALLOW_ANONYMOUS: 'true' }).server.publicUrl).toBe('http://localhost:3970');
    expect(load({ PORT: '3970' }).server.publicUrl).toBe('http://127.0.0.1:3970');
    expect(load({ PORT: '3970', HOST: '10.1.2.3', AUTH_ALLOW_ANONYMOUS: 'true' }).server.publicUrl).toBe('http://10.1.2.3:3970');
    expect(load({ PORT: '3970', HOST: '::', AUTH_ALLOW_ANONYMOUS: 'true' }).server.publicUrl).toBe('http://localhost:3970');
    expect(load({ PORT: '3970', HOST: '::1' }).server.publicUrl).toBe('http://[::1]:3970');
    expect(load({ PORT: '3970', PUBLIC_URL: 'https://up.example.com/' }).server.publicUrl).toBe('https://up.example.com');
  });

  it('refuses a publicEndpoint that is not a URL', () => {
    expect(configError(() => load({ S3_PUBLIC_ENDPOINT: 'minio:9000 x' }))).toContain('storage.s3.publicEndpoint');
  });
});
