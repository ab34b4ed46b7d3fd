import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Starts a real S3 (Ceph RGW) and Redis once per run; see test/support/.
    globalSetup: ['test/support/global-setup.ts'],
    // Real services, real sockets, uploads of hundreds of MiB: be generous.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    // Child processes rather than threads: tests start gateways, browsers and
    // servers, and must not share one process's globals.
    pool: 'forks',
    // The machine has 2 cores; RGW, Redis and the gateways under test need some too.
    maxWorkers: 2,
    reporters: ['default', ['json', { outputFile: 'test-artifacts/vitest.json' }]],
  },
});
