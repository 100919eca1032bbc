/**
 * `npm run bench:cpu-gemm`: milliseconds and GFLOP/s of the CPU device's WebAssembly GEMM
 * (src/cpu/gemm.ts), on one thread or several (a worker pool, src/cpu/pool.ts), on single GEMMs
 * of each operand layout and on every GEMM op of bench-small's training step (the plan's own
 * entries: sizes, strides, bias, ReLU, accumulate); then the CPU device's whole training step
 * against those GEMM ops run alone on the step's own operands, in alternating rounds (the
 * whole-step ≥ 80% target). Prints only; writes nothing.
 *
 * Flags: --config NAME (default bench-small), --min-ms N (time per measurement, default 200),
 * --threads 1,2 (thread counts, each timed in turn within every round; default 1).
 */
import { CpuGemm, gemmModule, gemmScratchFloats } from '../src/cpu/gemm.js';
import { CpuHeap } from '../src/cpu/heap.js';
import { CpuThreadPool } from '../src/cpu/pool.js';
import { MAX_CPU_THREADS } from '../src/cpu/threads.js';
import type { GemmEntry } from '../src/kernels/batched_gemm.js';
import { describeStep, stepGemms } from '../src/layers/model.js';
import { buildSpec } from '../src/spec.js';
import { CpuDevice } from '../src/cpu/device.js';
import { benchConfigs, gemmShareLine, stepVsGemms, mdTable, median, modelConfig, timeRuntime } from './common.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const config = benchConfigs[option('--config', 'bench-small')];
if (!config) throw new Error(`unknown --config; one of ${Object.keys(benchConfigs).join(', ')}`);
const minMs = Number(option('--min-ms', '200'));
const threadCounts = option('--threads', '1').split(',').map(Number);
if (!threadCounts.every((t) => Number.isInteger(t) && t >= 1 && t <= MAX_CPU_THREADS)) throw new Error(`--threads takes whole numbers from 1 to ${MAX_CPU_THREADS}, comma-separated, e.g. 1,2`);

/** One entry C = A B (m x k times k x n) in a layout, with bias and ReLU as the forward pass has them. */
function single(layout: 'forward' | 'dW' | 'dX', m: number, n: number, k: number): GemmEntry {
  const a = layout === 'dW' ? { aRow: 1, aCol: m } : { aRow: k, aCol: 1 };
  const b = layout === 'dX' ? { bRow: 1, bCol: k } : { bRow: n, bCol: 1 };
  return { m, n, k, ...a, ...b, aOff: 0, bOff: 0, cOff: 0, cRow: n, ...(layout === 'forward' ? { biasOff: 0, relu: true } : {}) };
}

/** Element count each operand's entries reach (non-negative strides). */
function extent(entries: readonly GemmEntry[], at: (e: GemmEntry) => [number, [number, number][]]): number {
  let end = 0;
  for (const e of entries) {
    const [off, dims] = at(e);
    end = Math.max(end, off + 1 + dims.reduce((s, [size, stride]) => s + (size - 1) * stride, 0));
  }
  return end;
}

/** A GEMM on `threads` threads (a shared heap and a worker pool above 1), its own heap sized for `entries`. */
async function gemmOn(entries: readonly GemmEntry[], threads: number): Promise<{ run: () => void; destroy: () => void }> {
  const aLen = extent(entries, (e) => [e.aOff, [[e.m, e.aRow], [e.k, e.aCol]]]);
  const bLen = extent(entries, (e) => [e.bOff, [[e.k, e.bRow], [e.n, e.bCol]]]);
  const cLen = extent(entries, (e) => [e.cOff, [[e.m, e.cRow], [e.n, 1]]]);
  const biasLen = extent(entries, (e) => [e.biasOff ?? 0, [[e.n, 1]]]);
  const scratchFloats = gemmScratchFloats(entries, threads);
  const heap = new CpuHeap(aLen + bLen + cLen + biasLen + scratchFloats + 64, { shared: threads > 1 });
  const [a, b, c, bias, scratch] = [aLen, bLen, cLen, biasLen, scratchFloats].map((n) => heap.alloc(n));
  for (let i = 0; i < heap.f32.length; i++) heap.f32[i] = Math.random() - 0.5;
  const pool = threads > 1 ? await CpuThreadPool.create(heap.memory, [await gemmModule(true)], threads) : undefined;
  const gemm = await CpuGemm.create(heap, scratch, scratchFloats, { pool });
  return { run: () => gemm.run(entries, a, b, c, bias), destroy: () => pool?.destroy() };
}

/** Median ms of one run of the entries on each thread count: 5 rounds, each timing every thread count in turn for at least minMs / 5. */
async function time(entries: readonly GemmEntry[], threadCounts: readonly number[]): Promise<number[]> {
  const gemms = [];
  for (const t of threadCounts) gemms.push(await gemmOn(entries, t));
  const reps = gemms.map(({ run }) => {
    run();
    let n = 1;
    for (;;) {
      const t0 = performance.now();
      for (let r = 0; r < n; r++) run();
      if (performance.now() - t0 >= minMs / 5) return n;
      n *= 2;
    }
  });
  const rounds: number[][] = gemms.map(() => []);
  for (let round = 0; round < 5; round++) {
    gemms.forEach(({ run }, g) => {
      const t0 = performance.now();
      for (let r = 0; r < reps[g]; r++) run();
      rounds[g].push((performance.now() - t0) / reps[g]);
    });
  }
  for (const g of gemms) g.destroy();
  return rounds.map(median);
}

const flops = (entries: readonly GemmEntry[]) => entries.reduce((s, e) => s + 2 * e.m * e.n * e.k, 0);
const shapesOf = (entries: readonly GemmEntry[]) => {
  const sizes = entries.map((e) => `${e.m}x${e.n}x${e.k}`);
  return sizes.every((s) => s === sizes[0]) ? `${entries.length} x ${sizes[0]}` : sizes.join(', ');
};
const row = async (name: string, layout: string, entries: readonly GemmEntry[]) => {
  const ms = await time(entries, threadCounts);
  const f = flops(entries);
  return { cells: [name, layout, shapesOf(entries), ...ms.flatMap((t) => [t.toFixed(3), (f / t / 1e6).toFixed(2)])], ms, flops: f };
};
const header = ['GEMM', 'layout', 'entries (m x n x k)', ...threadCounts.flatMap((t) => [`ms (${t} thr)`, `GFLOP/s (${t} thr)`])];

const singles: [string, 'forward' | 'dW' | 'dX', number, number, number][] = [
  ['single', 'forward', 512, 256, 128],
  ['single', 'forward', 512, 64, 256],
  ['single', 'dW', 128, 256, 512],
  ['single', 'dX', 512, 128, 256],
  ['single', 'forward', 512, 6, 128],
  ['single', 'forward', 512, 1, 32],
];
const singleRows = [];
for (const [name, layout, m, n, k] of singles) singleRows.push((await row(name, layout, [single(layout, m, n, k)])).cells);
console.log('Single GEMMs (forward with bias and ReLU):\n');
console.log(mdTable(header, singleRows));

const spec = buildSpec(modelConfig(config));
const stepRows = [];
const totalMs = threadCounts.map(() => 0);
let totalFlops = 0;
for (const op of stepGemms(describeStep(spec, config.batchSize, 1))) {
  const r = await row(op.name, op.layout, op.entries);
  stepRows.push(r.cells);
  r.ms.forEach((ms, i) => (totalMs[i] += ms));
  totalFlops += r.flops;
}
stepRows.push(['all', '', '', ...totalMs.flatMap((ms) => [ms.toFixed(3), (totalFlops / ms / 1e6).toFixed(2)])]);
console.log(`\n${config.name}'s training-step GEMM ops (batch ${config.batchSize}):\n`);
console.log(mdTable(header, stepRows));

// The whole step against its GEMMs alone, on the CPU device's own heap, on each thread count.
for (const threads of threadCounts) {
  const { timing, trainer } = await timeRuntime(await CpuDevice.create({ threads }), config, { warmup: 3, steps: 10 });
  const share = await stepVsGemms(trainer, config);
  trainer.destroy();
  console.log(`\n${config.name}: ${gemmShareLine(timing.system, share)}`);
}
