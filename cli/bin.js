#!/usr/bin/env node
// The `upload-gateway` / `ugw` launcher. A compiled build (dist/cli/main.js) runs as plain
// JavaScript; otherwise the TypeScript sources run through tsx, as `npm start` runs the server.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (existsSync(compiled)) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./main.ts');
}
