/**
 * Where the CPU device computes each gate's logits X W + b (the product before its softmax): in a
 * region of its own in the gate scratch, and, where an earlier GEMM op of the same phase reads the
 * very same X (the experts' first layer reads the level's input, as the gates do), as extra entries
 * of that GEMM op, so one run (and one split over the threads) computes both. Otherwise the gate's
 * own op computes them, as before. Used by src/cpu/engine.ts and src/cpu/kernels.ts; tested by the
 * CPU cases of test/model.test.ts and test/training.test.ts, and test/cpu_gate_logits.test.ts.
 *
 * Computing them early is safe because a pass writes each activation once: nothing between the
 * GEMM op and the gate's op writes X, W or the gate's scratch region.
 */
import type { GemmEntry } from '../kernels/batched_gemm.js';
import type { GateEntry } from '../kernels/gate_softmax.js';
import type { BufferRole, OpDesc } from '../layers/ops.js';
import type { Phase } from '../engine.js';
import { alignUp } from './heap.js';

/** Gates of an op, with the roles their X and W are in. */
function gatesOf(op: OpDesc): { gate: GateEntry; x: BufferRole; w: BufferRole }[] {
  if (op.kernel === 'gate_softmax') return op.entries.map((gate) => ({ gate, x: op.buffers.x, w: op.buffers.w }));
  if (op.kernel === 'gate_mixture') return op.entries.map(({ gate }) => ({ gate, x: op.buffers.x, w: op.buffers.w }));
  return [];
}

/** Floats of gate scratch the step's gates need: rows x n each, in regions of their own. */
export function gateScratchFloats(ops: readonly OpDesc[]): number {
  return ops.flatMap(gatesOf).reduce((s, { gate }) => s + alignUp(gate.rows * gate.n), 0);
}

/** The GEMM entry computing a gate's logits X W + b into `logitsAt` (rows x n, contiguous), all offsets absolute in the heap; null for a gate without params. */
function logitsEntry(gate: GateEntry, x: number, w: number, logitsAt: number): GemmEntry | null {
  if (gate.wOff === undefined) return null;
  return {
    m: gate.rows, n: gate.n, k: gate.k,
    aOff: x + gate.xOff, aRow: gate.xRow, aCol: 1,
    bOff: w + gate.wOff, bRow: gate.n, bCol: 1,
    cOff: logitsAt, cRow: gate.n,
    biasOff: gate.bOff === undefined ? undefined : w + gate.bOff,
  };
}

export interface GateLogitsPlan {
  /** Heap offset of each gate's logits (rows x n, contiguous). */
  logitsAt: Map<GateEntry, number>;
  /** The logits entry of each gate with params (absolute heap offsets); a gate in `fused` is computed by its GEMM op, the rest by the gate's own op. */
  entries: Map<GateEntry, GemmEntry>;
  /** The gates whose logits a GEMM op computes. */
  fused: Set<GateEntry>;
  /** The logits entries each GEMM op computes besides its own. */
  extra: Map<OpDesc, GemmEntry[]>;
}

/**
 * Plans the logits of every gate of the step: `base` is each buffer role's heap offset, `scratch`
 * the gate scratch's (gateScratchFloats floats). A gate is fused into the nearest GEMM op before it
 * in its phase with an entry whose A is the gate's X exactly (same buffer, start, row stride, rows
 * and k, contiguous columns). Which gates go where depends on the ops alone, not on `base`; with
 * `fuse` false none is fused (the test compares both).
 */
export function planGateLogits(ops: Record<Phase, readonly OpDesc[]>, base: Record<BufferRole, number>, scratch: number, { fuse = true } = {}): GateLogitsPlan {
  const plan: GateLogitsPlan = { logitsAt: new Map(), entries: new Map(), fused: new Set(), extra: new Map() };
  let at = scratch;
  for (const phaseOps of Object.values(ops)) {
    phaseOps.forEach((op, i) => {
      for (const { gate, x, w } of gatesOf(op)) {
        plan.logitsAt.set(gate, at);
        const entry = logitsEntry(gate, base[x], base[w], at);
        at += alignUp(gate.rows * gate.n);
        if (!entry) continue;
        plan.entries.set(gate, entry);
        if (!fuse) continue;
        const host = phaseOps
          .slice(0, i)
          .reverse()
          .find((o) => o.kernel === 'batched_gemm' && o.buffers.a === x && o.entries.some((e) => e.aOff === gate.xOff && e.aRow === gate.xRow && e.aCol === 1 && e.m === gate.rows && e.k === gate.k));
        if (!host) continue;
        plan.fused.add(gate);
        plan.extra.set(host, [...(plan.extra.get(host) ?? []), entry]);
      }
    });
  }
  return plan;
}

/** A GEMM op's entries with absolute heap offsets (A, B, C and bias in their roles), to run beside entries of other buffers. */
export function absoluteEntries(op: Extract<OpDesc, { kernel: 'batched_gemm' }>, base: Record<BufferRole, number>): GemmEntry[] {
  const b = op.buffers;
  return op.entries.map((e) => ({
    ...e,
    aOff: base[b.a] + e.aOff,
    bOff: base[b.b] + e.bOff,
    cOff: base[b.c] + e.cOff,
    biasOff: e.biasOff === undefined ? undefined : base[b.bias!] + e.biasOff,
  }));
}
