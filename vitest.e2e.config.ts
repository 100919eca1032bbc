import { defineConfig } from 'vitest/config';

// The demo page's end-to-end tests (`npm run test:e2e`) in headless Chromium with WebGPU (SwiftShader
// on GPU-less hosts): on the Vite dev server (demo.e2e.ts) and on the built site served as `npm run
// preview` serves it (built.e2e.ts), both on 127.0.0.1. Kept apart from `npm test`.
export default defineConfig({
  test: {
    root: '.',
    include: ['test-e2e/**/*.e2e.ts'],
    // SwiftShader compiles pipelines slowly; both files together take a few minutes.
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
