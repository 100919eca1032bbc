import { defineConfig } from 'vitest/config';
import { builtinModules } from 'node:module';
import { readFileSync } from 'node:fs';
import { CROSS_ORIGIN_ISOLATION_HEADERS } from './src/cpu/threads.js';

// The library leaves every package it depends on to the user's install (and bundler): none is copied into dist/.
const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const dependencies = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})];
const external = (id: string) => dependencies.some((d) => id === d || id.startsWith(`${d}/`)) || builtinModules.includes(id.replace(/^node:/, ''));

// Cross-origin isolation (COOP same-origin + COEP require-corp): the page may then share memory with
// workers, which the CPU device's threads need; everything the page loads is same-origin.
const isolation = { ...CROSS_ORIGIN_ISOLATION_HEADERS };

// `vite build --mode lib` builds the library (dist/index.js for browsers and Node,
// dist/node.js with Node's device acquisition); other modes serve and build the demo page.
export default defineConfig(({ mode }) => ({
  root: mode === 'lib' ? '.' : 'demo',
  base: './',
  server: { host: '127.0.0.1', headers: isolation },
  // `npm run preview` serves the built site (dist/demo) the same way; WebGPU needs 127.0.0.1 or localhost.
  preview: { host: '127.0.0.1', headers: isolation },
  // The demo's npm dependencies, pre-bundled at server start so the page never reloads mid-session.
  optimizeDeps: mode === 'lib' ? undefined : { include: ['chart.js', 'wgpu-matrix', 'papaparse', 'onnx-proto'] },
  build:
    mode === 'lib'
      ? {
          outDir: 'dist',
          emptyOutDir: true,
          sourcemap: true,
          lib: { entry: { index: 'src/index.ts', node: 'src/node.ts' }, formats: ['es'] },
          rollupOptions: {
            external,
            // One file per source module: with the package's `sideEffects: false` a user's bundler then
            // drops whole modules the app never reaches (the CSV reader and papaparse, the CPU reference).
            output: { preserveModules: true, preserveModulesRoot: 'src' },
          },
        }
      : { outDir: '../dist/demo', emptyOutDir: true },
  test: {
    root: '.',
    include: ['test/**/*.test.ts'],
    // A failing randomized test prints the seeds it drew (test/seed-report.ts).
    setupFiles: ['test/seed-report.ts'],
    // WGSL runs on a CPU driver on GPU-less hosts: pipeline creation takes seconds.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // One device per worker; the kernels are CPU-bound on SwiftShader, so run files one at a time.
    fileParallelism: false,
  },
}));
