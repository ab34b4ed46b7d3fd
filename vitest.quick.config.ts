import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// The same pool and timeouts as vitest.config.ts, without its global set-up (Ceph RGW, Redis).
const { globalSetup: _services, include: _all, reporters: _json, ...shared } = base.test!;

// `npm run test:quick`: the tests that need no service — no Ceph, no Redis, no Chromium,
// no build — in well under a minute: configuration, Range parsing, the local Store, the
// resumable sha256, the widget's logic, and the gateway's protocol tests on the
// file datastore + localfs pairing only (not the slow-body concurrency tests). `npm test` runs everything.
export default defineConfig({
  test: {
    ...shared,
    include: [
      'test/config.test.ts',
      'test/http/objects.test.ts',
      'test/http/ops.test.ts',
      'test/http/presign.test.ts',
      'test/http/range.test.ts',
      'test/storage/localfs.test.ts',
      'test/storage/localfs-contract.test.ts',
      'test/storage/localfs-read-cache.test.ts',
      'test/tus/sha256-state.test.ts',
      'test/tus/batch-writer.test.ts',
      'test/tus/records.test.ts',
      'test/util/startup-gc.test.ts',
      'test/client/widget-logic.test.ts',
      'test/ops/startup.test.ts',
      'test/gateway/protocol.test.ts',
      'test/gateway/bad-input.test.ts',
      'test/gateway/objects-api.test.ts',
      'test/structure/*.test.ts',
    ],
    env: { TEST_PAIRINGS: 'file+localfs' },
    reporters: ['default'],
  },
});
