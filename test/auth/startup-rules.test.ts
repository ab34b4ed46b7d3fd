import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../server/auth/api-keys.ts';
import { ConfigError } from '../../server/config.ts';
import { raw } from '../gateway/pairings.ts';
import { testConfig } from '../support/gateway.ts';
import { bearer, newKey, startAuthGateway } from './support.ts';

const configError = async (env: Record<string, string>, yaml = '') => {
  try {
    await testConfig({ env, yaml });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return undefined;
};

describe('start-up rules', () => {
  it('the default host is loopback, open mode', async () => {
    const { config } = await testConfig({ env: { HOST: '' } });
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.auth.mode).toBe('none');
  });

  it('open mode on a non-loopback host refuses to start, in one line, unless allowAnonymous', async () => {
    const msg = await configError({ HOST: '0.0.0.0' });
    expect(msg).toMatch(/^invalid configuration: auth\.mode: .*0\.0\.0\.0.*allowAnonymous/);
    expect(msg).not.toContain('\n');
    expect(await configError({ HOST: '0.0.0.0' }, 'auth: { allowAnonymous: true }')).toBeUndefined();
    expect(await configError({ HOST: '0.0.0.0' }, 'auth: { mode: token }')).toBeUndefined();
    expect(await configError({ HOST: '::1' })).toBeUndefined();
  });

  it('a JWT secret shorter than 32 bytes is refused', async () => {
    expect(await configError({ JWT_SECRET: 'short' }, 'auth: { mode: token }')).toContain('auth.jwt.secret: must be at least 32 bytes');
    expect(await configError({ JWT_SECRET: 'k'.repeat(32) }, 'auth: { mode: token }')).toBeUndefined();
  });

  it('an API key entry that is not a sha256 is refused', async () => {
    expect(await configError({}, 'auth: { apiKeys: [{ sha256: ugw_plain, owner: a }] }')).toContain('auth.apiKeys.0.sha256');
  });

  it('API keys from auth.apiKeysFile work; a bad file stops the start', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-keys-'));
    const key = newKey();
    const file = join(dir, 'keys.yaml');
    await writeFile(file, stringify([{ sha256: sha256Hex(key), owner: 'device-7', scopes: ['read'] }]));
    const gw = await startAuthGateway('file+localfs', { auth: { apiKeysFile: file } });
    try {
      expect((await raw(`${gw.url}/api/whoami`, { headers: bearer(key) })).json).toEqual({ owner: 'device-7', scopes: ['read'], via: 'apiKey' });
    } finally {
      await gw.close();
    }
    await writeFile(file, stringify([{ sha256: 'nope', owner: 'x' }]));
    await expect(startAuthGateway('file+localfs', { auth: { apiKeysFile: file } })).rejects.toThrow(/auth\.apiKeysFile .*sha256/);
  });
});
