/**
 * The CPU engine: a model's step run on the CPU device. It lays out the same arenas as a GPU
 * plan (from the same step description) in one WASM heap (src/cpu/heap.ts) and runs the same op
 * lists, each op by its CPU kernel (src/cpu/kernels.ts), prepared once when the engine is created
 * (the heap's layout never changes). A run is synchronous; its reads come back as an
 * already-resolved promise, so the trainer drives both engines alike.
 */
import type { ModelSpec } from '../spec.js';
import { names } from '../spec.js';
import type { ResolvedOptimizer } from '../config.js';
import type { Batch } from '../data/batch.js';
import { LimitError } from '../limits.js';
import { describeStep, stepGemms, stepOps, type StepDescription } from '../layers/model.js';
import { fuseGateMixtures } from '../layers/gates.js';
import type { BufferRole, OpDesc } from '../layers/ops.js';
import { weightDecayEnd } from '../kernels/optimizer.js';
import { stageBatch } from '../input-stage.js';
import type { Engine, Phase, Region } from '../engine.js';
import { CpuHeap, HEAP_ALIGN, alignUp } from './heap.js';
import { CpuElementwise, elementwiseModule, sumSquaresFloats, taskLossFloats } from './elementwise.js';
import { CpuGemm, gemmModule, gemmScratchFloats } from './gemm.js';
import { CpuThreadPool } from './pool.js';
import { prepareCpuOp, type CpuOpContext } from './kernels.js';
import { gateScratchFloats, planGateLogits } from './gate-logits.js';
import type { CpuRun } from './elementwise.js';

/** The largest heap a CPU plan may use, in bytes (WebAssembly memories stop at 4 GiB; staying under 2 GiB keeps offsets positive int32s). */
export const CPU_HEAP_MAX_BYTES = 2 ** 31 - 2 ** 16;

/** Floats of each buffer role and of the four scratch regions (the GEMM's, the gate logits', grad_norm's and the task losses' partial sums), for a step description on `threads` threads (fusing a level's gate and mixtures changes none of them). */
function regionSizes(step: StepDescription, threads: number) {
  const all = stepOps(step);
  const P = step.params.size;
  const K = step.spec.numTasks;
  const roles: Record<BufferRole, number> = {
    params: P, grads: P, m1: P, m2: P,
    input: step.input.size, act: step.activations.size,
    taskWeights: K, baseWeights: K, clip: 4,
    optimizerUniform: 0, clipUniform: 0,
  };
  // Each GEMM op's entries run in one call, with the gate logits fused into it (src/cpu/gate-logits.ts; which go where does not depend on the offsets); a gate's logits not fused run in one of their own.
  const zero = Object.fromEntries(Object.keys(roles).map((role) => [role, 0])) as Record<BufferRole, number>;
  const logits = planGateLogits(step.ops, zero, 0);
  const gemmCalls = [...stepGemms(step).map((op) => [...op.entries, ...(logits.extra.get(op) ?? [])]), ...[...logits.entries.values()].map((e) => [e])];
  const losses = all.flatMap((op) => (op.kernel === 'task_loss' ? [taskLossFloats(op.entries)] : []));
  const scratch = { gemm: Math.max(0, ...gemmCalls.map((entries) => gemmScratchFloats(entries, threads))), gate: gateScratchFloats(all), norm: sumSquaresFloats(P), loss: Math.max(0, ...losses) };
  const floats = Object.values(roles).reduce((a, n) => a + alignUp(n), 0) + Object.values(scratch).reduce((a, n) => a + alignUp(n), 0) + HEAP_ALIGN;
  return { roles, scratch, floats };
}

/**
 * The step description at batch size B on the CPU device (on `threads` threads) and its heap's
 * regions; throws LimitError when the heap would pass CPU_HEAP_MAX_BYTES.
 */
export function describeCpuStep(spec: ModelSpec, B: number, threads = 1): { step: StepDescription; sizes: ReturnType<typeof regionSizes> } {
  if (!Number.isInteger(B) || B < 1) throw new LimitError('batchSize', `batchSize must be a positive integer, got ${B}`);
  const fits = (b: number) => regionSizes(describeStep(spec, b, HEAP_ALIGN), threads).floats * 4 <= CPU_HEAP_MAX_BYTES;
  const step = describeStep(spec, B, HEAP_ALIGN);
  const sizes = regionSizes(step, threads);
  const bytes = sizes.floats * 4;
  if (bytes > CPU_HEAP_MAX_BYTES) {
    let lo = 0;
    let hi = B;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (fits(mid)) lo = mid;
      else hi = mid;
    }
    throw new LimitError(
      'cpuHeapBytes',
      `the CPU device needs ${bytes} bytes at batch size ${B}, over its heap limit of ${CPU_HEAP_MAX_BYTES} bytes` +
        (lo > 0 ? `; the largest batch size that fits is ${lo}` : ' (the model itself is too large for it)'),
      lo > 0 ? lo : undefined,
    );
  }
  return { step, sizes };
}

/** Each grad_norm op right before an optimizer op over the same gradients, all `count` of them, and that optimizer op (CpuOpContext.normInOptimizer). */
function normBeforeUpdate(ops: readonly OpDesc[], count: number): Set<OpDesc> {
  const paired = new Set<OpDesc>();
  ops.forEach((op, i) => {
    const next = ops[i + 1];
    if (op.kernel === 'grad_norm' && next?.kernel === 'optimizer' && next.buffers.grads === op.buffers.grads && next.buffers.clip === op.buffers.out && next.count === count) {
      paired.add(op).add(next);
    }
  });
  return paired;
}

export class CpuEngine implements Engine {
  readonly device = 'cpu';
  readonly batchSize: number;
  private readonly heap: CpuHeap;
  private readonly context: CpuOpContext;
  /** The input arena's floats and words in the heap, and their check for values that are not finite (stageBatch's). */
  private readonly inputStage: { f32: Float32Array; u32: Uint32Array; finite: (from: number, count: number) => boolean };
  /** Each phase's ops, prepared once (src/cpu/kernels.ts prepareCpuOp), in step order. */
  private readonly prepared: Record<Phase, { op: OpDesc; run: CpuRun }[]>;
  private destroyed = false;

  private constructor(
    readonly spec: ModelSpec,
    readonly step: StepDescription,
    heap: CpuHeap,
    context: CpuOpContext,
    /** The GEMMs' and elementwise ops' worker threads (none on one thread). */
    private readonly pool?: CpuThreadPool,
  ) {
    this.batchSize = step.B;
    this.heap = heap;
    this.context = context;
    const at = context.base.input;
    const size = step.input.size;
    this.inputStage = { f32: heap.f32.subarray(at, at + size), u32: heap.u32.subarray(at, at + size), finite: (from, count) => context.elementwise.allFinite(count, at + from) };
    const phases = Object.keys(step.ops) as Phase[];
    this.prepared = Object.fromEntries(phases.map((phase) => [phase, step.ops[phase].map((op) => ({ op, run: prepareCpuOp(op, context) }))])) as Record<Phase, { op: OpDesc; run: CpuRun }[]>;
  }

  /**
   * Lays out the arenas of `spec` at `batchSize` rows in a new heap (throws LimitError past
   * CPU_HEAP_MAX_BYTES); on `threads` > 1 the heap is shared and the GEMMs and elementwise ops split over a pool of
   * workers (src/cpu/pool.ts), which destroy() stops. The gate logits run inside the GEMM op that
   * reads the same input (src/cpu/gate-logits.ts) unless `fuseGateLogits` is false.
   */
  static async create(
    spec: ModelSpec,
    options: { batchSize: number; fuseGateMixture?: boolean; threads?: number; minFlopsPerThread?: number; fuseGateLogits?: boolean },
  ): Promise<CpuEngine> {
    const threads = options.threads ?? 1;
    const { step: described, sizes } = describeCpuStep(spec, options.batchSize, threads);
    const step = !options.fuseGateMixture ? described : { ...described, ops: { ...described.ops, forward: fuseGateMixtures(described.ops.forward) } };
    const heap = new CpuHeap(sizes.floats, { shared: threads > 1 });
    const base = Object.fromEntries(Object.entries(sizes.roles).map(([role, n]) => [role, heap.alloc(n)])) as Record<BufferRole, number>;
    const gemmScratch = heap.alloc(sizes.scratch.gemm);
    const gateScratch = heap.alloc(sizes.scratch.gate);
    const normScratch = heap.alloc(sizes.scratch.norm);
    const lossScratch = heap.alloc(sizes.scratch.loss);
    const pool = threads > 1 ? await CpuThreadPool.create(heap.memory, [await gemmModule(true), await elementwiseModule(true)], threads) : undefined;
    const gemm = await CpuGemm.create(heap, gemmScratch, sizes.scratch.gemm, { pool, minFlopsPerThread: options.minFlopsPerThread });
    const elementwise = await CpuElementwise.create(heap, { pool, minFlopsPerThread: options.minFlopsPerThread });
    const context: CpuOpContext = {
      f32: heap.f32,
      u32: heap.u32,
      base,
      gemm,
      elementwise,
      gateLogits: planGateLogits(step.ops, base, gateScratch, { fuse: options.fuseGateLogits ?? true }),
      optimizerStep: null,
      clipMaxNorm: 0,
      paramCount: step.params.size,
      normScratch,
      lossScratch,
      normInOptimizer: normBeforeUpdate(step.ops.optimizer, step.params.size),
    };
    return new CpuEngine(spec, step, heap, context, pool);
  }

  get params() {
    return this.step.params;
  }
  get activations() {
    return this.step.activations;
  }

  setOptimizerStep(optimizer: ResolvedOptimizer, step: number, lr: number, gradScale: number): void {
    this.context.optimizerStep = { optimizer, t: step, lr, gradScale, decayEnd: weightDecayEnd(this.step.params, names.logVariance) };
  }

  setTaskWeights(weights: readonly number[]): void {
    const { f32, base } = this.context;
    f32.set(weights, base.taskWeights);
    f32.set(weights, base.baseWeights);
  }

  setGradientClip(maxNorm: number): void {
    this.context.clipMaxNorm = maxNorm;
  }

  writeBatch(batch: Batch): void {
    const { f32, u32, finite } = this.inputStage;
    stageBatch(this.spec, this.step.input, this.batchSize, batch, f32, u32, finite);
  }

  run(phases: readonly Phase[], reads: readonly Region[]): Promise<Float32Array> {
    this.assertAlive();
    for (const phase of phases) for (const { run } of this.prepared[phase]) run();
    const out = new Float32Array(reads.reduce((a, r) => a + r.size, 0));
    let at = 0;
    for (const r of reads) {
      out.set(this.view(r), at);
      at += r.size;
    }
    return Promise.resolve(out);
  }

  read(r: Region): Promise<Float32Array> {
    this.assertAlive();
    return Promise.resolve(this.view(r).slice());
  }

  write(role: BufferRole, offset: number, data: Float32Array<ArrayBuffer>): void {
    this.assertAlive();
    this.heap.f32.set(data, this.context.base[role] + offset);
  }

  assertAlive(): void {
    if (this.destroyed) throw new Error('this CPU engine was destroyed');
  }

  destroy(): void {
    this.destroyed = true;
    this.pool?.destroy();
  }

  /**
   * Runs only the ops of these phases that `keep` accepts, in order, on the step's own operands (the
   * benches time the step's GEMMs alone this way). What the skipped ops would have written is left
   * as it was, so the outputs are not a step's; the next full step recomputes everything it reads.
   */
  runOnly(phases: readonly Phase[], keep: (op: OpDesc) => boolean): void {
    this.assertAlive();
    for (const phase of phases) for (const { op, run } of this.prepared[phase]) if (keep(op)) run();
  }

  /** FLOPs of one pass of the step's GEMM ops as this engine runs them: their entries and the gate logits fused into them (src/cpu/gate-logits.ts). */
  gemmOpFlops(): number {
    const ops = Object.values(this.step.ops).flat();
    const entries = ops.flatMap((op) => (op.kernel === 'batched_gemm' ? [...op.entries, ...(this.context.gateLogits.extra.get(op) ?? [])] : []));
    return entries.reduce((s, e) => s + 2 * e.m * e.n * e.k, 0);
  }

  /** Runs the phases op by op, timing each with performance.now(): the CPU device's per-op profile (the benches'). */
  profile(phases: readonly Phase[]): { phase: Phase; kernel: string; name: string; ms: number }[] {
    this.assertAlive();
    return phases.flatMap((phase) =>
      this.prepared[phase].map(({ op, run }) => {
        const t0 = performance.now();
        run();
        return { phase, kernel: op.kernel, name: op.name, ms: performance.now() - t0 };
      }),
    );
  }

  private view(r: Region): Float32Array {
    const at = this.context.base[r.role] + r.offset;
    return this.heap.f32.subarray(at, at + r.size);
  }
}
