/**
 * Per-describe-block fixtures: a thing started in the block's beforeAll and closed in its
 * afterAll, reached through a handle that reads through to it.
 *
 * Public surface:
 * - `useStarted(what, start)`: registers the two hooks, returns the handle.
 * - `readThrough(what, current)`: the handle alone, for fixtures with hooks of their own.
 *
 * The handle exists at collection time but the thing only from the beforeAll on: use it
 * inside tests and hooks, never while the describe block is being collected.
 */
import { afterAll, beforeAll } from 'vitest';

export function useStarted<T extends { close(): Promise<unknown> }>(what: string, start: () => Promise<T>, timeoutMs = 120_000): T {
  let current: T | undefined;
  beforeAll(async () => {
    current = await start();
  }, timeoutMs);
  afterAll(async () => {
    await current?.close();
  }, timeoutMs);
  return readThrough(what, () => current);
}

export function readThrough<T extends object>(what: string, current: () => T | undefined): T {
  const target = (): T => {
    const t = current();
    if (!t) throw new Error(`${what}: used before its beforeAll ran`);
    return t;
  };
  return new Proxy({} as T, {
    get(_proxy, prop) {
      const t = target();
      const value: unknown = Reflect.get(t, prop, t);
      // Methods run on the thing itself (private fields and `this` stay right).
      return typeof value === 'function' ? value.bind(t) : value;
    },
    // A test that swaps a part (e.g. `gw.tusPing = …`) swaps it on the thing itself.
    set: (_proxy, prop, value) => Reflect.set(target(), prop, value),
    has: (_proxy, prop) => Reflect.has(target(), prop),
  });
}
