/** Quick GFLOP/s sweep of batched_gemm tunings on the adapter (forward and dW shapes). */
import { acquireNodeDevice } from '../src/node.js';
import { gemmDispatch, type GemmEntry, type GemmTuning } from '../src/kernels/batched_gemm.js';
import { encodeOps } from '../src/kernels/dispatch.js';

const ctx = await acquireNodeDevice({ dawnOptions: process.env.DAWN_OPTS ? process.env.DAWN_OPTS.split(' ') : [] });
const E = 3, M = 512, N = 128, K = 128;
const mk = (n: number) => ctx.createDataBuffer('x', Float32Array.from({ length: n }, () => Math.random()), GPUBufferUsage.STORAGE);
const size = E * Math.max(M, N, K) ** 2;
const a = mk(size), b = mk(size), c = mk(size);
const shapes: Record<string, GemmEntry[]> = {
  forward: Array.from({ length: E }, (_, e) => ({ m: M, n: N, k: K, aOff: e * M * K, aRow: K, aCol: 1, bOff: e * K * N, bRow: N, bCol: 1, cOff: e * M * N, cRow: N })),
  dW: Array.from({ length: E }, (_, e) => ({ m: K, n: N, k: M, aOff: e * M * K, aRow: 1, aCol: K, bOff: e * K * N, bRow: N, bCol: 1, cOff: e * K * N, cRow: N })),
  dX: Array.from({ length: E }, (_, e) => ({ m: M, n: K, k: N, aOff: e * M * K, aRow: K, aCol: 1, bOff: e * K * N, bRow: 1, bCol: N, cOff: e * M * N, cRow: K })),
};
const tunings: GemmTuning[] = JSON.parse(process.env.TUNINGS ?? '[{"tileM":4,"tileN":4,"wgX":8,"wgY":8},{"tileM":1,"tileN":1,"wgX":8,"wgY":8},{"tileM":2,"tileN":2,"wgX":8,"wgY":8},{"tileM":4,"tileN":4,"wgX":16,"wgY":16},{"tileM":8,"tileN":4,"wgX":8,"wgY":8},{"tileM":4,"tileN":8,"wgX":8,"wgY":4}]');
for (const [name, entries] of Object.entries(shapes)) {
  for (const t of tunings) {
    const d = await gemmDispatch(ctx, name, entries, { a, b, c: name === 'dW' ? c : c }, t);
    const runOnce = async () => {
      const enc = ctx.device.createCommandEncoder();
      encodeOps(enc, [{ kind: 'dispatch', dispatch: d }], 'x');
      ctx.device.queue.submit([enc.finish()]);
      await ctx.device.queue.onSubmittedWorkDone();
    };
    await runOnce();
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) await runOnce();
    const ms = (performance.now() - t0) / 3;
    console.log(`${name.padEnd(8)} tile ${t.tileM}x${t.tileN} wg ${t.wgX}x${t.wgY}: ${ms.toFixed(1)} ms, ${((2 * E * M * N * K) / ms / 1e6).toFixed(2)} GFLOP/s`);
  }
}
process.exit(0);
