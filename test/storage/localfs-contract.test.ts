import { startLocalFsBehindGateway } from '../support/storage-server.ts';
import { describeStoreContract } from './store.contract.ts';

describeStoreContract(
  'localfs',
  // A fresh root per fixture; its presigned URLs (`{publicUrl}/storage/...`) are answered
  // by the gateway's own /storage route over a real socket.
  async () => {
    const { store, cleanup } = await startLocalFsBehindGateway();
    return { store, cleanup };
  },
  { reservesSidecarSuffix: true, keyMayAlsoBeFolder: false },
);
