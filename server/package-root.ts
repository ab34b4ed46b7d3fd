import { basename, dirname, resolve } from 'node:path';

/**
 * The package's root directory, from the sources (`server/`) or the compiled build
 * (`dist/server/`): files that are not compiled — the native addon, the widget bundle —
 * stay at the root, beside package.json, in both.
 */
const serverDir = import.meta.dirname;
export const PACKAGE_ROOT =
  basename(dirname(serverDir)) === 'dist' ? resolve(serverDir, '../..') : resolve(serverDir, '..');
