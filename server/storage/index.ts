import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import type { Store } from './store.ts';

/**
 * The configured backend's presigned URLs point at the gateway's own `/storage/{key}`
 * (signed by storage/signing.ts), which must then serve them: localfs. Decided by the
 * configuration, before and whatever the Store (a test may put another behind the routes).
 */
export const servesSignedUrls = (config: Config): boolean => config.storage.backend === 'localfs';

/**
 * The Store chosen by `storage.backend`: switching backends is configuration, never
 * code. Each backend is imported only when chosen, so the embedded default does not
 * load the AWS SDK.
 */
export async function createStore(config: Config, metrics?: Metrics): Promise<Store> {
  if (config.storage.backend === 's3') {
    const [{ createS3Client, observeS3 }, { createS3Store }] = await Promise.all([import('./s3-client.ts'), import('./s3.ts')]);
    const s3 = config.storage.s3;
    return createS3Store({
      client: metrics ? observeS3(createS3Client(s3), metrics.s3Duration) : createS3Client(s3),
      // A second client, only for signing: the server talks to `endpoint`, browsers to `publicEndpoint`.
      ...(s3.publicEndpoint && s3.publicEndpoint !== s3.endpoint ? { presignClient: createS3Client({ ...s3, endpoint: s3.publicEndpoint }) } : {}),
      bucket: config.storage.s3.bucket,
      // The s3 datastore keeps incomplete uploads in the same bucket: they are not objects yet.
      hiddenPrefix: config.tus.datastore === 's3' ? config.storage.s3.tusPrefix : '',
    });
  }
  const { createLocalFsStore } = await import('./localfs.ts');
  return createLocalFsStore({
    root: config.storage.localfs.root,
    publicUrl: config.server.publicUrl,
    signingSecret: config.signing.secret,
  });
}
