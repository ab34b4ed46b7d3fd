/**
 * The one behaviour every Store must have (docs/api.md §3, server/storage/store.ts),
 * run once per backend: `describeStoreContract('localfs', …)`, `describeStoreContract('s3', …)`.
 * Each part is a `should…()` of its own under ./contract/, a describe block over its own
 * store from `makeStore`. Everything goes through real disks, real sockets and a real S3
 * server; nothing is mocked.
 */
import { describe } from 'vitest';
import type { MakeStore, StoreContractCaps } from './contract/kit.ts';
import { shouldRoundTrip } from './contract/round-trip.ts';
import { shouldValidateKeys } from './contract/keys.ts';
import { shouldServeRanges } from './contract/ranges.ts';
import { shouldOverwriteAndDelete } from './contract/overwrite-delete.ts';
import { shouldList } from './contract/list.ts';
import { shouldKeepMetadata } from './contract/metadata.ts';
import { shouldCopy } from './contract/copy.ts';
import { shouldPresign } from './contract/presign.ts';
import { shouldStatAndPing } from './contract/stat-ping.ts';

export type { StoreContractCaps, StoreFixture } from './contract/kit.ts';

export function describeStoreContract(name: string, makeStore: MakeStore, caps: StoreContractCaps): void {
  describe(`Store contract: ${name}`, { timeout: 60_000 }, () => {
    shouldRoundTrip(makeStore, caps);
    shouldValidateKeys(makeStore, caps);
    shouldServeRanges(makeStore);
    shouldOverwriteAndDelete(makeStore);
    shouldList(makeStore);
    shouldKeepMetadata(makeStore);
    shouldCopy(makeStore);
    shouldPresign(makeStore);
    shouldStatAndPing(makeStore);
  });
}
