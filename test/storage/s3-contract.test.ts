import { createS3Client } from '../../server/storage/s3-client.ts';
import { createS3Store } from '../../server/storage/s3.ts';
import { createTestBucket, s3TestSettings } from '../support/services.ts';
import { describeStoreContract } from './store.contract.ts';

describeStoreContract(
  's3',
  async () => {
    // A fresh bucket per fixture on the real Ceph RGW that the vitest globalSetup started.
    const bucket = await createTestBucket('contract');
    const { endpoint, region, accessKey, secretKey } = s3TestSettings();
    const client = createS3Client({
      endpoint,
      bucket,
      region,
      forcePathStyle: true,
      checksums: 'when_required',
      accessKey,
      secretKey,
      tusPrefix: '.tus/',
    });
    return { store: createS3Store({ client, bucket }), cleanup: async () => client.destroy() };
  },
  {
    reservesSidecarSuffix: false,
    keyMayAlsoBeFolder: true,
    // lib-storage keeps the parts in flight in memory (8 MiB parts, 2 in flight, plus the
    // SDK's copies): 60–93 MiB measured for 200 MiB on RGW. Still far below the object.
    maxRssGrowthBytes: 128 * 2 ** 20,
  },
);
