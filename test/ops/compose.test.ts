import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const run = promisify(execFile);

// Docker does not run here: Debian's docker-compose validates and resolves the file instead.
describe('docker-compose.yml', () => {
  it('is a valid compose file wiring the gateway to MinIO on the s3 backend', async () => {
    const { stdout } = await run('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: process.cwd() });
    const doc = parse(stdout) as { services: Record<string, { environment?: Record<string, string>; depends_on?: unknown; build?: unknown }> };
    expect(Object.keys(doc.services).sort()).toEqual(['create-bucket', 'gateway', 'minio']);
    const env = doc.services.gateway!.environment!;
    expect(env.STORAGE_BACKEND).toBe('s3');
    expect(env.TUS_DATASTORE).toBe('s3');
    expect(env.S3_ENDPOINT).toBe('http://minio:9000');
    expect(doc.services.gateway!.depends_on).toMatchObject({ 'create-bucket': { condition: 'service_completed_successfully' } });
    expect(doc.services.gateway!.build).toBeTruthy();
  });
});
