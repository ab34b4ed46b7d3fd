import { startApp } from '../support/app.ts';
import { describeObjectsApi } from './objects.suite.ts';

describeObjectsApi('localfs', () => startApp(), { localfs: true });
