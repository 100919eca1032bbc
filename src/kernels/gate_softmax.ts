/**
 * Host side of shaders/gate_softmax.wgsl (with gate_softmax_common.wgsl): gate weights = softmax(X W (+ b)).
 * Fused with the mixture that follows: gate_mixture.ts.
 * CPU reference: src/reference/gate_softmax.ts. Test: test/gate_softmax.test.ts.
 */
import commonSource from '../../shaders/gate_softmax_common.wgsl?raw';
import mainSource from '../../shaders/gate_softmax.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import { kernelShapesFor } from './shapes.js';
import { bindRanges, createDispatch, grid1d, type Dispatch, type RangedBinding } from './dispatch.js';
import { struct } from './struct.js';
import { withLanes, type ReductionPath } from './lanes.js';

export interface GateEntry {
  rows: number;
  /** Experts mixed (softmax width). */
  n: number;
  /** Input width. */
  k: number;
  xOff: number;
  xRow: number;
  /** Offset of W ([k x n]) in the weight buffer; none for a parameterless gate (one expert). */
  wOff?: number;
  /** Offset of b ([n]) in the weight buffer; none for a gate without bias. */
  bOff?: number;
  outOff: number;
  outRow: number;
}

export interface GateBuffers {
  x: GPUBuffer;
  w: GPUBuffer;
  out: GPUBuffer;
}

/** The shader's `flags` bits (written into its `const FLAG_*` lines). */
export const GATE_FLAGS = { FLAG_WEIGHTS: 1, FLAG_BIAS: 2 } as const;

export const GATE_DESCRIPTOR = struct('Gate', {
  rows: 'u32', n: 'u32', k: 'u32', flags: 'u32',
  xOff: 'u32', xRow: 'u32', wOff: 'u32', bOff: 'u32',
  outOff: 'u32', outRow: 'u32',
});

/** The bindings of X and W (the gate's inputs), shared with gate_mixture. */
export function gateInputBindings<T extends GateEntry>(buffers: { x: GPUBuffer; w: GPUBuffer }): RangedBinding<T>[] {
  return [
    { buffer: buffers.x, extent: (e) => (e.wOff === undefined ? null : [e.xOff, e.xOff + (e.rows - 1) * e.xRow + e.k]), offsets: ['xOff'] },
    {
      buffer: buffers.w,
      extent: (e) => {
        const parts: [number, number][] = [];
        if (e.wOff !== undefined) parts.push([e.wOff, e.wOff + e.k * e.n]);
        if (e.bOff !== undefined) parts.push([e.bOff, e.bOff + e.n]);
        return parts.length ? [Math.min(...parts.map((p) => p[0])), Math.max(...parts.map((p) => p[1]))] : null;
      },
      offsets: ['wOff', 'bOff'],
    },
  ];
}

/** The binding of the gate weights the softmax writes, shared with gate_mixture. */
export function gateOutBinding<T extends GateEntry>(buffer: GPUBuffer): RangedBinding<T> {
  return { buffer, extent: (e) => [e.outOff, e.outOff + (e.rows - 1) * e.outRow + e.n], offsets: ['outOff'] };
}

/** The descriptor table of (rebased) gate entries. */
export function packGates(entries: readonly GateEntry[]): Uint32Array {
  return GATE_DESCRIPTOR.pack(
    entries.map((e) => ({
      ...e,
      flags: (e.wOff !== undefined ? GATE_FLAGS.FLAG_WEIGHTS : 0) | (e.bOff !== undefined ? GATE_FLAGS.FLAG_BIAS : 0),
      wOff: e.wOff ?? 0,
      bOff: e.bOff ?? 0,
    })),
  );
}

/** Samples per lane group on `path`: kernelShapesFor(adapter).gateRows on the plain path, one on the subgroup path. */
export function gateRowsFor(adapter: { isFallback: boolean; architecture: string }, path: ReductionPath): number {
  return path === 'plain' ? kernelShapesFor(adapter).gateRows : 1;
}

/** Options of the gate softmax (and of gate_mixture's). */
export interface GateOptions {
  /** Samples per lane group (default gateRowsFor(ctx.adapter, path)). */
  rowsPerGroup?: number;
}

/** `path`: a lane group of one invocation (plain) or of a subgroup (see lanes.ts). */
export function gateSoftmaxDispatch(ctx: GpuContext, label: string, entries: readonly GateEntry[], buffers: GateBuffers, path: ReductionPath = 'plain', options: GateOptions = {}): Promise<Dispatch> {
  const ROWS = options.rowsPerGroup ?? gateRowsFor(ctx.adapter, path);
  const lanes = withLanes(ctx, 'gate_softmax', path, commonSource + mainSource, kernelShapesFor(ctx.adapter).gateWorkgroup);
  const bound = bindRanges(ctx, label, entries, [...gateInputBindings(buffers), gateOutBinding(buffers.out)]);
  const packed = packGates(bound.entries);
  const [x, y] = grid1d(Math.max(...entries.map((e) => e.rows)), lanes.rowsPerWorkgroup * ROWS, ctx.limits.maxComputeWorkgroupsPerDimension);
  return createDispatch(ctx, {
    kernel: 'gate_softmax',
    path,
    name: label,
    source: lanes.source,
    constants: { WG: lanes.wg, ROWS, ...GATE_FLAGS },
    descriptors: packed,
    bindings: bound.bindings,
    grid: [x, y, entries.length],
  });
}
