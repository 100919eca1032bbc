/**
 * Host side of shaders/bias_act_backward.wgsl: dZ = dY * act'(Y) in place, db = column sums.
 * CPU reference: src/reference/bias_act_backward.ts. Test: test/bias_act_backward.test.ts.
 */
import source from '../../shaders/bias_act_backward.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import { bindRanges, createDispatch, type Dispatch } from './dispatch.js';
import { struct } from './struct.js';

export interface BiasActEntry {
  rows: number;
  cols: number;
  relu: boolean;
  dyOff: number;
  dyRow: number;
  /** Where the layer's output Y is (read only for ReLU; ignored otherwise). */
  yOff: number;
  yRow: number;
  /** Where db goes; none when the layer has no bias. */
  dbOff?: number;
}

export interface BiasActBuffers {
  dY: GPUBuffer;
  y: GPUBuffer;
  db: GPUBuffer;
}

/** Columns per workgroup, VEC of them per invocation. */
const COLUMNS = 64;
/** The shader's `flags` bits (written into its `const FLAG_*` lines). */
export const BIAS_ACT_FLAGS = { FLAG_RELU: 1, FLAG_BIAS: 2 } as const;

export const BIAS_ACT_DESCRIPTOR = struct('BiasAct', {
  rows: 'u32', cols: 'u32', flags: 'u32', dyOff: 'u32',
  dyRow: 'u32', yOff: 'u32', yRow: 'u32', dbOff: 'u32',
});

export function biasActBackwardDispatch(ctx: GpuContext, label: string, entries: readonly BiasActEntry[], buffers: BiasActBuffers): Promise<Dispatch> {
  const bound = bindRanges(ctx, label, entries, [
    { buffer: buffers.dY, extent: (e) => [e.dyOff, e.dyOff + (e.rows - 1) * e.dyRow + e.cols], offsets: ['dyOff'] },
    { buffer: buffers.y, extent: (e) => (e.relu ? [e.yOff, e.yOff + (e.rows - 1) * e.yRow + e.cols] : null), offsets: ['yOff'] },
    { buffer: buffers.db, extent: (e) => (e.dbOff === undefined ? null : [e.dbOff, e.dbOff + e.cols]), offsets: ['dbOff'] },
  ]);
  const { FLAG_RELU, FLAG_BIAS } = BIAS_ACT_FLAGS;
  const packed = bound.entries.map((e) => ({ ...e, flags: (e.relu ? FLAG_RELU : 0) | (e.dbOff !== undefined ? FLAG_BIAS : 0), dbOff: e.dbOff ?? 0 }));
  const maxCols = Math.max(...entries.map((e) => e.cols));
  const VEC = vectorWidth(entries);
  return createDispatch(ctx, {
    kernel: 'bias_act_backward',
    name: label,
    path: VEC === 4 ? 'vec4' : 'scalar',
    source,
    constants: { WG: COLUMNS / VEC, VEC, ...BIAS_ACT_FLAGS },
    types: { Cols: VEC === 4 ? 'vec4f' : 'f32' },
    descriptors: BIAS_ACT_DESCRIPTOR.pack(packed),
    bindings: bound.bindings,
    grid: [Math.ceil(maxCols / COLUMNS), 1, entries.length],
  });
}

/**
 * Columns per invocation: 4, read and written as one vec4f, when every entry's offsets, row
 * strides and width are multiples of 4 (the bindings start at multiples of the storage offset
 * alignment, so rebasing keeps that), else 1. Four adjacent columns at once take a software
 * adapter 0.71-0.75x the time of one (bench-small's expert layers in Node).
 */
export function vectorWidth(entries: readonly BiasActEntry[]): 1 | 4 {
  const aligned = (e: BiasActEntry) => [e.cols, e.dyOff, e.dyRow, ...(e.relu ? [e.yOff, e.yRow] : []), ...(e.dbOff === undefined ? [] : [e.dbOff])].every((v) => v % 4 === 0);
  return entries.every(aligned) ? 4 : 1;
}
