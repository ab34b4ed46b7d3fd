import { startGateway } from './gateway-fixture.ts';
import { describeObjectsApi } from './objects.suite.ts';

describeObjectsApi('localfs', () => startGateway(), { localfs: true });
