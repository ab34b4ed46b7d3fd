/**
 * Gateways with auth on, in this process on a real socket, for one pairing; every log line
 * kept (to prove no credential reaches one). API keys: alice, bob, an admin and a read-only device.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import pino from 'pino';
import { stringify } from 'yaml';
import { sha256Hex } from '../../server/auth/api-keys.ts';
import { startGateway, type RunningGateway } from '../../server/main.ts';
import { pairingEnv, type Pairing } from '../gateway/pairings.ts';
import { testConfig } from '../support/gateway.ts';

export const newKey = () => `ugw_${randomBytes(24).toString('base64url')}`;

export const KEYS = { alice: newKey(), bob: newKey(), admin: newKey(), reader: newKey(), carol: newKey() };
export const API_KEYS = [
  { sha256: sha256Hex(KEYS.alice), owner: 'alice', scopes: ['upload', 'read', 'delete'] },
  { sha256: sha256Hex(KEYS.bob), owner: 'bob', scopes: ['upload', 'read', 'delete'] },
  { sha256: sha256Hex(KEYS.admin), owner: 'ops', scopes: ['admin'] },
  { sha256: sha256Hex(KEYS.reader), owner: 'alice', scopes: ['read'] },
  // upload only: may not overwrite (no delete)
  { sha256: sha256Hex(KEYS.carol), owner: 'carol', scopes: ['upload', 'read'] },
];
export const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

export type AuthGateway = RunningGateway & { logs: () => string; dataDir: string; pairing: Pairing };

/** A gateway for `pairing` with `auth` (merged over mode token + the API keys above) and extra YAML. */
export async function startAuthGateway(
  pairing: Pairing,
  yaml: Record<string, unknown> = {},
  env: Record<string, string> = {},
): Promise<AuthGateway> {
  const overlay = { auth: { mode: 'token', apiKeys: API_KEYS }, ...yaml } as Record<string, unknown>;
  if (yaml.auth) overlay.auth = { mode: 'token', apiKeys: API_KEYS, ...(yaml.auth as object) };
  const { config, dataDir } = await testConfig({ env: { ...(await pairingEnv(pairing)), LOG_LEVEL: 'info', ...env }, yaml: stringify(overlay) });
  let out = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      out += chunk;
      cb();
    },
  });
  const gw = await startGateway(config, { logger: pino({ level: 'info' }, sink) });
  const stop = gw.close;
  return Object.assign(gw, {
    logs: () => out,
    dataDir,
    pairing,
    close: async () => {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  });
}
