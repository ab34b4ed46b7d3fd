/** The write path's reused 1 MiB buffers (server/tus/slabs.ts). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SLAB, giveSlab, takeSlab, useSlabs } from '../../server/tus/slabs.ts';

describe('slabs', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hands a slab back out once given back, while a writer uses them', () => {
    const release = useSlabs();
    const a = takeSlab();
    expect(a.length).toBe(SLAB);
    const b = takeSlab();
    expect(b).not.toBe(a);
    giveSlab(a);
    expect(takeSlab()).toBe(a);
    release();
  });

  it('lets free slabs go after the last writer has been idle a while', () => {
    vi.useFakeTimers();
    const release = useSlabs();
    const a = takeSlab();
    giveSlab(a);
    release();
    release(); // twice is once
    vi.advanceTimersByTime(60_000);
    const again = useSlabs();
    expect(takeSlab()).not.toBe(a);
    again();
  });
});
