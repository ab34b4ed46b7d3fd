/**
 * The one collection after start-up (server/util/gc.ts): it runs, hands freed malloc
 * memory back through the addon (trim.c), and leaves no `gc` in the gateway's global scope.
 */
import { describe, expect, it } from 'vitest';
import { native } from '../../server/tus/native-addon.ts';
import { collectStartupGarbage } from '../../server/util/gc.ts';

describe('collectStartupGarbage', () => {
  it('collects without exposing gc to the global scope', () => {
    const hadGc = 'gc' in globalThis;
    collectStartupGarbage();
    expect('gc' in globalThis).toBe(hadGc);
  });

  it('the addon (npm ci builds it) has trimMemory, glibc malloc_trim', () => {
    expect(typeof native?.trimMemory).toBe('function');
    expect(typeof native!.trimMemory!()).toBe('boolean');
  });
});
