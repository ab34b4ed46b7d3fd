import { z } from 'zod';

/**
 * The `auth` section of the configuration (docs/api.md §7) and its start-up rules. config.ts
 * assembles the whole schema and hands in its unit parsers (so there is one `30s`, one `true`).
 */
const scope = z.enum(['upload', 'read', 'delete', 'admin']);

/** One API key as configured: never the key, only its sha256 (hex). */
export const apiKeyEntry = z.strictObject({
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be the 64 hex digits of the key\'s sha256').transform((h) => h.toLowerCase()),
  owner: z.string().min(1).max(64),
  scopes: z.array(scope).default(['upload', 'read', 'delete']),
});

export function authConfigSchema<D extends z.ZodType<number>, B extends z.ZodType<boolean>>({ duration, bool }: { duration: D; bool: B }) {
  return z.strictObject({
    mode: z.enum(['none', 'token']),
    allowAnonymous: bool,
    jwt: z.strictObject({
      secret: z.string(),
      jwksUrl: z.string().refine((v) => v === '' || URL.canParse(v), 'must be empty or an absolute URL'),
      issuer: z.string(),
      audience: z.string(),
      ownerClaim: z.string().min(1),
      scopeClaim: z.string().min(1),
      clockTolerance: duration,
    }),
    apiKeys: z.array(apiKeyEntry),
    apiKeysFile: z.string(),
    publicRead: bool,
  });
}

/** Hosts that only this machine can reach: open mode is safe on these alone. */
export const isLoopbackHost = (host: string) => /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/i.test(host);

interface AuthRuleInput {
  server: { host: string };
  auth: { mode: string; allowAnonymous: boolean; jwt: { secret: string } };
}

/** Open mode only on loopback (unless allowAnonymous), and an HS* secret of at least 32 bytes. */
export function checkAuthConfig(c: AuthRuleInput, ctx: z.RefinementCtx): void {
  if (c.auth.mode === 'none' && !c.auth.allowAnonymous && !isLoopbackHost(c.server.host)) {
    ctx.addIssue({
      code: 'custom', path: ['auth', 'mode'],
      message: `"none" (no credentials) on non-loopback server.host ${c.server.host}: set auth.mode: token, or auth.allowAnonymous: true to accept anyone on the network`,
    });
  }
  // RFC 7518 §3.2: "A key of the same size as the hash output (for instance, 256 bits for "HS256") or larger MUST be used".
  if (c.auth.jwt.secret !== '' && Buffer.byteLength(c.auth.jwt.secret) < 32) {
    ctx.addIssue({ code: 'custom', path: ['auth', 'jwt', 'secret'], message: 'must be at least 32 bytes (HS256 needs a 256-bit key)' });
  }
}
