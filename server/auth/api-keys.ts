import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { apiKeyEntry, ConfigError, type Config } from '../config.ts';
import type { Principal, Scope } from './principal.ts';

/** API keys start with this, so that they are told from JWTs at a glance (and by secret scanners). */
export const API_KEY_PREFIX = 'ugw_';

interface KeyEntry {
  hash: Buffer;
  principal: Principal;
}

export type ApiKeyMatcher = (key: string) => Principal | undefined;

export const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/** auth.apiKeys plus the list in auth.apiKeysFile (read once, at start-up). */
export async function loadApiKeys(auth: Config['auth']): Promise<ApiKeyMatcher> {
  const entries: { sha256: string; owner: string; scopes: readonly Scope[] }[] = [...auth.apiKeys];
  if (auth.apiKeysFile) {
    let text: string;
    try {
      text = await readFile(auth.apiKeysFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`auth.apiKeysFile: cannot read ${auth.apiKeysFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const parsed = z.array(apiKeyEntry).safeParse(parseYaml(text) ?? []);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ConfigError(`auth.apiKeysFile ${auth.apiKeysFile}: [${issue.path.join('.')}]: ${issue.message}`);
    }
    entries.push(...parsed.data);
  }
  return apiKeyMatcher(entries);
}

/** Matches a presented key against configured sha256 entries. */
export function apiKeyMatcher(entries: readonly { sha256: string; owner: string; scopes: readonly Scope[] }[]): ApiKeyMatcher {
  const keys: KeyEntry[] = entries.map((e) => ({
    hash: Buffer.from(e.sha256, 'hex'),
    principal: Object.freeze({ via: 'apiKey', owner: e.owner, scopes: new Set<Scope>(e.scopes) }),
  }));
  return (key) => {
    const hash = createHash('sha256').update(key).digest();
    // Every entry is compared, in constant time each: neither the timing nor the order tells which hash is near.
    let found: Principal | undefined;
    for (const entry of keys) if (timingSafeEqual(entry.hash, hash) && !found) found = entry.principal;
    return found;
  };
}
