import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * Builds the widget into client/dist, which the gateway serves under /widget/:
 * widget.js (IIFE, `window.UploadWidget`), widget.mjs (ES module) and widget.css.
 * Everything (Uppy, preact, tus-js-client) is bundled: an embedding page needs only these files.
 * File names carry no hash: embedders link a stable URL, and the gateway revalidates with ETags.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  publicDir: false,
  logLevel: 'warn',
  // Lib mode leaves process.env alone, and preact reads NODE_ENV: there is no `process` in a browser.
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2020',
    lib: {
      entry: 'src/index.ts',
      name: 'UploadWidget',
      formats: ['iife', 'es'],
      fileName: (format) => (format === 'es' ? 'widget.mjs' : 'widget.js'),
      cssFileName: 'widget',
    },
  },
});
