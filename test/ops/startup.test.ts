import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function runGateway(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
      env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000); // generous: a loaded 2-core machine starts tsx slowly
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

describe('start-up with a bad configuration', () => {
  it.each([
    [{ PORT: 'abc' }, 'server.port'],
    [{ TUS_DATASTORE: 'ftp' }, 'tus.datastore'],
    [{ STORAGE_BACKEND: 'gcs' }, 'storage.backend'],
    [{ PUBLIC_URL: 'not a url' }, 'server.publicUrl'],
    [{ CONFIG_FILE: '/nonexistent/gw.yaml' }, 'CONFIG_FILE'],
  ])('stops with one line naming the field (%o)', async (env, field) => {
    const { code, stderr } = await runGateway(env as Record<string, string>);
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(field);
    expect(stderr).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack trace
  });
});
