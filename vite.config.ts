import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: '.',
  server: { host: '127.0.0.1' },
  test: {
    include: ['test/**/*.test.ts'],
    // WGSL runs on a CPU driver on GPU-less hosts: pipeline creation takes seconds.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // One device per worker; the kernels are CPU-bound on SwiftShader, so run files one at a time.
    fileParallelism: false,
    reporters: ['default'],
  },
});
