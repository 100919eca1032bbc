// Serves the browser example from the repository, with `ple-webgpu` resolved to the sources.
// A project that installed the package needs no config: `npx vite` serves index.html as it is.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  server: { host: '127.0.0.1' },
  resolve: { alias: { 'ple-webgpu': fileURLToPath(new URL('../../src/index.ts', import.meta.url)) } },
});
