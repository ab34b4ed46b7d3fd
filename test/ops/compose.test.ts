import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startCommand } from '../../bench/lib/procs.ts';
import { loadConfig } from '../../server/config.ts';

const run = promisify(execFile);

const SECRETS = {
  MINIO_ROOT_USER: 'root-user',
  MINIO_ROOT_PASSWORD: 'root-password',
  S3_ACCESS_KEY: 'gateway-user',
  S3_SECRET_KEY: 'gateway-secret',
  SIGNING_SECRET: 'signing-secret',
};

interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  ports?: Array<{ published: number | string; target: number; host_ip?: string } | string>;
  profiles?: string[];
  stop_grace_period?: string;
  entrypoint?: string[];
  volumes?: Array<string | { source: string; target: string }>;
}

/** `docker-compose config`: Debian's docker-compose validates, interpolates and resolves the file (Docker does not run here). */
async function composeConfig(env: Record<string, string>, profile?: string) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(k in SECRETS) && k !== 'S3_BUCKET')) as NodeJS.ProcessEnv;
  const { stdout } = await run('docker-compose', ['-f', 'docker-compose.yml', ...(profile ? ['--profile', profile] : []), 'config'], {
    cwd: process.cwd(),
    env: { ...clean, ...env },
  });
  return parse(stdout) as { services: Record<string, Service> };
}

/** The services `docker compose up` starts without --profile (docker-compose 1.x `config` lists them all). */
const defaultServices = (doc: { services: Record<string, Service> }) =>
  Object.entries(doc.services).filter(([, s]) => !s.profiles?.length).map(([n]) => n).sort();

const seconds = (d: string) => Number(/^(\d+)s$/.exec(d)?.[1] ?? NaN);

describe('docker-compose.yml', () => {
  it('wires the gateway to MinIO on the s3 backend, with Redis, through a bucket-scoped user', async () => {
    const doc = await composeConfig(SECRETS);
    expect(defaultServices(doc)).toEqual(['gateway', 'minio', 'minio-setup', 'redis']);
    const gw = doc.services.gateway!;
    const env = gw.environment!;
    expect(env).toMatchObject({ STORAGE_BACKEND: 's3', TUS_DATASTORE: 's3', S3_ENDPOINT: 'http://minio:9000', REDIS_URL: 'redis://redis:6379' });
    // The gateway's keys are not MinIO's root credentials; minio-setup creates that user.
    expect(env.S3_ACCESS_KEY).toBe(SECRETS.S3_ACCESS_KEY);
    expect(env.S3_ACCESS_KEY).not.toBe(doc.services.minio!.environment!.MINIO_ROOT_USER);
    expect(doc.services['minio-setup']!.environment).toMatchObject({ S3_ACCESS_KEY: SECRETS.S3_ACCESS_KEY, S3_SECRET_KEY: SECRETS.S3_SECRET_KEY });
    expect(gw.depends_on).toMatchObject({ 'minio-setup': { condition: 'service_completed_successfully' }, redis: { condition: 'service_healthy' } });
    expect(gw.build).toBeTruthy();
    const script = await readFile('deploy/minio-setup.sh', 'utf8');
    for (const step of ['mc mb --ignore-existing', 'mc admin policy create', 'mc admin user add', 'mc admin policy attach']) expect(script).toContain(step);
    await run('sh', ['-n', 'deploy/minio-setup.sh']);
  });

  it('pins every image, binds MinIO to loopback only, and waits longer than server.shutdownTimeout before killing', async () => {
    const doc = await composeConfig(SECRETS, 'scale');
    for (const [name, svc] of Object.entries(doc.services)) {
      expect(svc.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
      expect(svc.image, name).not.toMatch(/:latest$/);
    }
    for (const p of doc.services.minio!.ports!) expect(typeof p === 'string' ? p : p.host_ip, JSON.stringify(p)).toMatch(/^127\.0\.0\.1/);
    const config = loadConfig({}, { defaults: await readFile('config/default.yaml', 'utf8') });
    for (const name of ['gateway', 'gateway-2']) {
      expect(seconds(doc.services[name]!.stop_grace_period!) * 1000).toBeGreaterThan(config.server.shutdownTimeout + 5000);
    }
  });

  // docker-compose (Python) takes seconds per run, and much longer on a loaded machine.
  it('has no default secrets: it refuses to start without them, naming the one missing', { timeout: 300_000 }, async () => {
    await Promise.all(
      Object.keys(SECRETS).map(async (missing) => {
        const env = Object.fromEntries(Object.entries(SECRETS).filter(([k]) => k !== missing));
        const err = await composeConfig(env).then(() => undefined, (e: { stderr?: string }) => e);
        expect(err, `without ${missing}`).toBeDefined();
        expect(err!.stderr).toContain(`set ${missing}`);
      }),
    );
  });

  it('scale profile: two gateways on one Redis behind nginx with deploy/nginx', async () => {
    const doc = await composeConfig(SECRETS, 'scale');
    expect(Object.keys(doc.services).sort()).toEqual(['gateway', 'gateway-2', 'lb', 'minio', 'minio-setup', 'redis']);
    // `docker compose up` without the profile starts neither the second gateway nor nginx.
    expect(defaultServices(doc)).not.toContain('lb');
    expect(doc.services['gateway-2']!.profiles).toEqual(['scale']);
    expect(doc.services.lb!.profiles).toEqual(['scale']);
    const [a, b] = [doc.services.gateway!.environment!, doc.services['gateway-2']!.environment!];
    for (const k of ['REDIS_URL', 'S3_BUCKET', 'S3_ENDPOINT', 'TUS_DATASTORE', 'STORAGE_BACKEND', 'SIGNING_SECRET']) expect(b[k], k).toBe(a[k]);
    const lb = doc.services.lb!;
    expect(lb.image).toMatch(/^nginx:/);
    expect(lb.depends_on).toMatchObject({ gateway: { condition: 'service_healthy' }, 'gateway-2': { condition: 'service_healthy' } });
    const mounts = lb.volumes!.map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`)).join('\n');
    expect(mounts).toMatch(/deploy\/nginx\/nginx\.conf:\/etc\/nginx\/nginx\.conf/);
    expect(mounts).toMatch(/deploy\/nginx\/upstreams\.conf:\/etc\/nginx\/upstreams\.conf/);
    const upstreams = await readFile('deploy/nginx/upstreams.conf', 'utf8');
    expect(upstreams).toContain('server gateway:3001;');
    expect(upstreams).toContain('server gateway-2:3001;');
  });
});

describe('Dockerfile and .dockerignore', () => {
  it('builds in one stage and runs the compiled gateway on node:24-slim as a non-root user owning /data', async () => {
    const text = await readFile('Dockerfile', 'utf8');
    const stages = text.split(/^FROM /m).slice(1);
    expect(stages).toHaveLength(2);
    const runtime = stages[1]!;
    expect(runtime).toMatch(/^node:24-slim\b/);
    expect(runtime).not.toMatch(/g\+\+|apt-get install/); // no compiler at run time
    expect(runtime).toMatch(/chown -R node:node \/data/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^HEALTHCHECK .*\/healthz/ms);
    // The node flags and environment of npm start (its heap sizing among them): the image runs the gateway as the bench measures it.
    const start = await startCommand();
    expect(runtime).toContain(`CMD [${['node', ...start.flags, 'dist/server/index.js'].map((w) => JSON.stringify(w)).join(', ')}]`);
    for (const [name, value] of Object.entries(start.env)) expect(runtime).toMatch(new RegExp(`^ENV ${name}=${value}$`, 'm'));
    expect(runtime).toContain('sha256_state.node');
    expect(stages[0]).toMatch(/npm run build\b/);
  });

  it('keeps uploads, objects, builds and dependencies out of the build context', async () => {
    const ignored = (await readFile('.dockerignore', 'utf8')).split('\n').map((l) => l.trim());
    for (const p of ['data', 'node_modules', 'dist', 'test-artifacts', '.git', 'native/sha256/build', 'client/dist', '.env']) expect(ignored, p).toContain(p);
  });
});
