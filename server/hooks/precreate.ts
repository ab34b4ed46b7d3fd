import { z } from 'zod';
import { errors } from '../errors.ts';

export interface PreCreateInput {
  owner: string;
  scopes: readonly string[];
  key: string;
  size: number | null;
  metadata: Record<string, string>;
}

// The hook's answer: allow (optionally with metadata to merge) or refuse with a 4xx and a message.
const answer = z.union([
  z.object({ allow: z.literal(true), metadata: z.record(z.string(), z.string()).optional() }),
  z.object({ allow: z.literal(false), status: z.number().int().min(400).max(499), message: z.string().max(1000) }),
]);

/**
 * Asks the operator's preCreate service whether an upload may be created. Resolves with
 * the metadata to keep (the client's, merged with the hook's); throws the hook's refusal
 * (its 4xx and message), or 503 when the hook times out, answers a 5xx or anything that
 * is not a well-formed answer — the hook fails closed.
 */
export async function askPreCreate(url: string, timeoutMs: number, input: PreCreateInput): Promise<Record<string, string>> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'upload-gateway' },
      body: JSON.stringify(input),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    const e = err as Error;
    throw errors.hookUnavailable(e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'it cannot be reached', err);
  }
  if (res.status >= 300) throw errors.hookUnavailable(`it answered HTTP ${res.status}`);
  let parsed: z.infer<typeof answer>;
  try {
    parsed = answer.parse(JSON.parse(text));
  } catch (err) {
    throw errors.hookUnavailable('its answer is not {"allow":true,…} or {"allow":false,"status":4xx,"message"}', err);
  }
  if (!parsed.allow) throw errors.hookRefused(parsed.status, parsed.message);
  return { ...input.metadata, ...(parsed.metadata ?? {}) };
}
