import { defineConfig } from 'vitest/config';

// The demo page's end-to-end test (`npm run test:e2e`): a Vite dev server on 127.0.0.1 and headless
// Chromium with WebGPU (SwiftShader on GPU-less hosts). Kept apart from `npm test`.
export default defineConfig({
  test: {
    root: '.',
    include: ['test-e2e/**/*.e2e.ts'],
    // SwiftShader compiles pipelines slowly; the whole file stays within about five minutes.
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
