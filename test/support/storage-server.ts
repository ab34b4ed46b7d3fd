/**
 * What serves a localfs Store's presigned URLs for the Store contract: the gateway itself
 * (in this process, on a real socket), whose `/storage/{key}` route checks the signature
 * and streams through the Store (docs/api.md §4, localfs backend).
 *
 * The store under test is a second LocalFsStore on the gateway's own root, signing with the
 * gateway's secret and pointing its URLs at the gateway's real address (the gateway listens
 * on port 0, so its configured publicUrl is not where it is: the host is not signed, only
 * method, key and expiry).
 */
import { randomBytes } from 'node:crypto';
import { createLocalFsStore, type LocalFsStore } from '../../server/storage/localfs.ts';
import { startGateway } from './gateway.ts';

export interface LocalFsBehindGateway {
  store: LocalFsStore;
  /** The gateway's base URL; the store's presigned URLs start with `${url}/storage/`. */
  url: string;
  cleanup(): Promise<void>;
}

export async function startLocalFsBehindGateway(): Promise<LocalFsBehindGateway> {
  const signingSecret = randomBytes(32).toString('hex');
  const gateway = await startGateway({ env: { SIGNING_SECRET: signingSecret } });
  try {
    const store = await createLocalFsStore({ root: gateway.config.storage.localfs.root, publicUrl: gateway.url, signingSecret });
    return {
      store,
      url: gateway.url,
      // Closing also removes the gateway's data directory (test/support/gateway.ts).
      cleanup: () => gateway.close(),
    };
  } catch (err) {
    await gateway.close();
    throw err;
  }
}
