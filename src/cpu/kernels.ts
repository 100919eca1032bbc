/**
 * The CPU device's kernels: each op of the step (src/layers/ops.ts) run on the heap's floats, with
 * the semantics of its WGSL kernel (the float64 references in src/reference/ state them). The
 * GEMMs, and the gate logits, run in the WASM GEMM (src/cpu/gemm.ts); bias_act_backward, the
 * mixture kernels, the optimizer, the gates' softmax, the task losses and grad_norm's sum in WASM
 * SIMD (src/cpu/elementwise.ts); the rest (embeddings, uncertainty weighting) are plain loops over
 * the heap's views. Tests: test/cpu_gemm.test.ts,
 * test/cpu_elementwise.test.ts and the CPU cases of test/model.test.ts and test/training.test.ts.
 */
import type { ResolvedOptimizer } from '../config.js';
import type { GateEntry } from '../kernels/gate_softmax.js';
import type { GatherEntry, ScatterEntry } from '../kernels/embedding.js';
import type { BufferRole, OpDesc } from '../layers/ops.js';
import { sequence, type CpuElementwise, type CpuRun } from './elementwise.js';
import type { CpuGemm } from './gemm.js';
import { absoluteEntries, type GateLogitsPlan } from './gate-logits.js';

/** The optimizer's state for one step, as the GPU reads it from its uniform. */
export interface CpuOptimizerStep {
  optimizer: ResolvedOptimizer;
  /** 1-based step number (Adam's bias corrections). */
  t: number;
  lr: number;
  gradScale: number;
  /** Weight decay applies to params [0, decayEnd) only. */
  decayEnd: number;
}

/** What a CPU op reads besides its entries: the heap, where each buffer role starts, and the plan's host-side state. */
export interface CpuOpContext {
  f32: Float32Array;
  u32: Uint32Array;
  /** Element offset of each buffer role in the heap (the uniform roles are unused: their state is below). */
  base: Record<BufferRole, number>;
  gemm: CpuGemm;
  /** bias_act_backward, the mixture kernels, the optimizer, the softmax, the task losses and grad_norm's sum (WASM SIMD). */
  elementwise: CpuElementwise;
  /** Where each gate's logits go and which GEMM ops compute them (src/cpu/gate-logits.ts). */
  gateLogits: GateLogitsPlan;
  /** Set before the first update (setOptimizerStep). */
  optimizerStep: CpuOptimizerStep | null;
  /** Global gradient norm clipping (0: off). */
  clipMaxNorm: number;
  /** Floats of the parameter arena (what grad_norm sums). */
  paramCount: number;
  /** Heap offset of grad_norm's partial sums (sumSquaresFloats(paramCount) floats, 8-byte aligned). */
  normScratch: number;
  /** Heap offset of the task losses' partial sums (taskLossFloats of the largest task_loss op's entries, 8-byte aligned). */
  lossScratch: number;
  /**
   * The grad_norm ops, and the optimizer ops right after them, whose optimizer sums the gradients'
   * squares in its own pass over them when clipping is off (nothing then reads the norm before the
   * update); such a grad_norm op then leaves the norm to it. The engine pairs a grad_norm op with an
   * optimizer op over the same gradients that comes right after it (src/cpu/engine.ts).
   */
  normInOptimizer: ReadonlySet<OpDesc>;
}

/**
 * One op prepared for its entries and the heap's layout (see CpuRun): the engine prepares every op
 * of the step once, when it is created, and runs each as often as it steps.
 */
export function prepareCpuOp(op: OpDesc, c: CpuOpContext): CpuRun {
  const at = (role: BufferRole) => c.base[role];
  switch (op.kernel) {
    case 'batched_gemm':
      // Absolute heap offsets, so that the gate logits fused into this op (if any) run beside its own entries.
      return c.gemm.prepare([...absoluteEntries(op, c.base), ...(c.gateLogits.extra.get(op) ?? [])], 0, 0, 0, 0);
    case 'bias_act_backward':
      return c.elementwise.biasActBackward(op.entries, at(op.buffers.dY), at(op.buffers.y), at(op.buffers.db));
    case 'gate_softmax':
      return gateSoftmax(c, op.entries, at(op.buffers.w), at(op.buffers.out));
    case 'mixture':
      return c.elementwise.mixtures(op.entries, at(op.buffers.gateW), at(op.buffers.z), at(op.buffers.out));
    case 'gate_mixture':
      return sequence(
        op.entries.flatMap(({ gate, mixture: m }) => [
          gateSoftmax(c, [gate], at(op.buffers.w), at(op.buffers.gateW)),
          c.elementwise.mixtures([m], at(op.buffers.gateW), at(op.buffers.z), at(op.buffers.out)),
        ]),
      );
    case 'mixture_gate_grad':
      return c.elementwise.gateGrads(op.entries, at(op.buffers.gateW), at(op.buffers.z), at(op.buffers.dG), at(op.buffers.dLogit));
    case 'mixture_expert_grad':
      return c.elementwise.expertGrads(op.entries, at(op.buffers.gateW), at(op.buffers.dG), at(op.buffers.dZ));
    case 'task_loss': {
      const b = op.buffers;
      return c.elementwise.taskLosses(op.entries, at(b.weights), at(b.logits), at(b.labels), at(b.dLogits), at(b.out), c.lossScratch);
    }
    case 'uncertainty': {
      const { phase, tasks, sOff, lossOff } = op.entry;
      const b = op.buffers;
      const f = c.f32;
      return () => {
        for (let k = 0; k < tasks; k++) {
          const inverseVariance = Math.exp(-f[at(b.params) + sOff + k]);
          if (phase === 0) f[at(b.effective) + k] = f[at(b.base) + k] * inverseVariance;
          else f[at(b.grads) + sOff + k] = f[at(b.base) + k] * (1 - inverseVariance * f[at(b.act) + lossOff + 2 * k]);
        }
      };
    }
    case 'embedding_gather':
      return () => {
        for (const e of op.entries) embeddingGather(c, e, at(op.buffers.indices), at(op.buffers.tables), at(op.buffers.x));
      };
    case 'embedding_backward':
      return () => {
        for (const e of op.entries) embeddingBackward(c, e, at(op.buffers.csr), at(op.buffers.dx), at(op.buffers.grad));
      };
    case 'grad_norm': {
      const out = at(op.buffers.out);
      const squares = c.elementwise.sumSquares(c.paramCount, at(op.buffers.grads), c.normScratch);
      return () => {
        // Clip scale 1 for now; the optimizer op writes the norm after its pass (CpuOpContext.normInOptimizer).
        if (c.normInOptimizer.has(op) && !(c.clipMaxNorm > 0)) return writeNorm(c, out, NaN);
        squares();
        writeNorm(c, out, summedNorm(c));
      };
    }
    case 'optimizer':
      return () => {
        if (!c.optimizerStep) throw new Error('the CPU optimizer ran before its step was set (setOptimizerStep)');
        const { optimizer, t, lr, gradScale, decayEnd } = c.optimizerStep;
        const clip = at(op.buffers.clip);
        const sumsNorm = c.normInOptimizer.has(op) && !(c.clipMaxNorm > 0);
        // Every gradient is scaled by gradScale and the clip scale grad_norm wrote.
        const scale = gradScale * c.f32[clip];
        c.elementwise.optimizer({ optimizer, t, lr, scale, decayEnd }, op.count, at(op.buffers.params), at(op.buffers.grads), at(op.buffers.m1), at(op.buffers.m2), sumsNorm ? c.normScratch : undefined);
        if (sumsNorm) writeNorm(c, clip, summedNorm(c));
      };
    case 'clear': {
      const from = at(op.buffer) + op.offset;
      return () => c.f32.fill(0, from, from + op.size);
    }
  }
}

/** Runs one op (prepared on the spot: {@link prepareCpuOp}, once). */
export function runCpuOp(op: OpDesc, c: CpuOpContext): void {
  prepareCpuOp(op, c)();
}

/**
 * Gates' softmaxes, prepared: the logits X W + b of each gate into its scratch region (by the GEMM,
 * a run per gate, for those no GEMM op computes already; just b for a gate without params), then
 * the softmax of each row into out, every gate's in one softmaxRows.
 */
function gateSoftmax(c: CpuOpContext, entries: readonly GateEntry[], w: number, out: number): CpuRun {
  const f = c.f32;
  const plan = c.gateLogits;
  // One GEMM run per gate, as the engine sizes the GEMM's scratch (src/cpu/engine.ts regionSizes).
  const runs = entries.filter((e) => !plan.fused.has(e) && plan.entries.has(e)).map((e) => c.gemm.prepare([plan.entries.get(e)!], 0, 0, 0, 0));
  const biasOnly = entries.filter((e) => !plan.entries.has(e));
  if (biasOnly.length > 0) {
    runs.push(() => {
      for (const e of biasOnly) {
        const logits = plan.logitsAt.get(e)!;
        for (let r = 0; r < e.rows; r++) for (let j = 0; j < e.n; j++) f[logits + r * e.n + j] = e.bOff !== undefined ? f[w + e.bOff + j] : 0;
      }
    });
  }
  runs.push(c.elementwise.softmaxRows(entries.map((e) => ({ rows: e.rows, n: e.n, logits: plan.logitsAt.get(e)!, out: out + e.outOff, outRow: e.outRow }))));
  return runs.length === 1 ? runs[0] : sequence(runs);
}

function embeddingGather(c: CpuOpContext, e: GatherEntry, indices: number, tables: number, x: number): void {
  const f = c.f32;
  for (let r = 0; r < e.rows; r++) {
    const row = c.u32[indices + e.idxOff + r * e.idxRow];
    f.copyWithin(x + e.xOff + r * e.xRow, tables + e.tableOff + row * e.dim, tables + e.tableOff + (row + 1) * e.dim);
  }
}

/** The table rows the batch looked up get their summed gradient; the CSR layout is embedding_backward.wgsl's. */
function embeddingBackward(c: CpuOpContext, e: ScatterEntry, csr: number, dx: number, grad: number): void {
  const { f32: f, u32: w } = c;
  const at = csr + e.csrOff;
  const count = w[at];
  const rowsAt = at + 1;
  const startsAt = rowsAt + e.capacity;
  const samplesAt = startsAt + e.capacity + 1;
  for (let u = 0; u < count; u++) {
    const dst = grad + e.gradOff + w[rowsAt + u] * e.dim;
    for (let j = 0; j < e.dim; j++) f[dst + j] = 0;
    for (let p = w[startsAt + u]; p < w[startsAt + u + 1]; p++) {
      const b = w[samplesAt + p];
      for (let g = 0; g < e.groups; g++) {
        const src = dx + e.dxOff + g * e.groupStride + b * e.dxRow;
        for (let j = 0; j < e.dim; j++) f[dst + j] += f[src + j];
      }
    }
  }
}

/** The gradients' norm from the partial sums of their squares at normScratch (grad_norm's or the optimizer's dispatch left them there). */
function summedNorm(c: CpuOpContext): number {
  return Math.sqrt(c.elementwise.squaresTotal(c.paramCount, c.normScratch));
}

/** grad_norm's outputs: the clip scale at out, the norm at out + 1 (a NaN norm, not yet summed, writes scale 1). */
function writeNorm(c: CpuOpContext, out: number, norm: number): void {
  const max = c.clipMaxNorm;
  c.f32[out] = max > 0 && norm > max ? max / norm : 1;
  c.f32[out + 1] = norm;
}
