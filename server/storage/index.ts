import type { Config } from '../config.ts';
import { createLocalFsStore } from './localfs.ts';
import { createS3Client } from './s3-client.ts';
import { createS3Store } from './s3.ts';
import type { Store } from './store.ts';

/** The Store chosen by `storage.backend`: switching backends is configuration, never code. */
export async function createStore(config: Config): Promise<Store> {
  if (config.storage.backend === 's3') {
    return createS3Store({ client: createS3Client(config.storage.s3), bucket: config.storage.s3.bucket });
  }
  return createLocalFsStore({
    root: config.storage.localfs.root,
    publicUrl: config.server.publicUrl,
    signingSecret: config.signing.secret,
  });
}
