/**
 * Host side of shaders/bias_act_backward.wgsl: dZ = dY * act'(Y) in place, db = column sums.
 * CPU reference: src/reference/bias_act_backward.ts. Test: test/bias_act_backward.test.ts.
 */
import source from '../../shaders/bias_act_backward.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import { bindRanges, createDispatch, packDescriptors, type Dispatch } from './dispatch.js';

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

const WG = 64;
const fields = ['rows', 'cols', 'flags', 'dyOff', 'dyRow', 'yOff', 'yRow', 'dbOff'] as const;

export function biasActBackwardDispatch(ctx: GpuContext, label: string, entries: readonly BiasActEntry[], buffers: BiasActBuffers): Promise<Dispatch> {
  const bound = bindRanges(ctx, label, entries, [
    { buffer: buffers.dY, extent: (e) => [e.dyOff, e.dyOff + (e.rows - 1) * e.dyRow + e.cols], offsets: ['dyOff'] },
    { buffer: buffers.y, extent: (e) => (e.relu ? [e.yOff, e.yOff + (e.rows - 1) * e.yRow + e.cols] : null), offsets: ['yOff'] },
    { buffer: buffers.db, extent: (e) => (e.dbOff === undefined ? null : [e.dbOff, e.dbOff + e.cols]), offsets: ['dbOff'] },
  ]);
  const packed = bound.entries.map((e) => ({ ...e, flags: (e.relu ? 1 : 0) | (e.dbOff !== undefined ? 2 : 0), dbOff: e.dbOff ?? 0 }));
  const maxCols = Math.max(...entries.map((e) => e.cols));
  return createDispatch(ctx, {
    label: `bias_act_backward ${label}`,
    source,
    constants: { WG },
    descriptors: packDescriptors(fields, 8, packed),
    bindings: bound.bindings,
    grid: [Math.ceil(maxCols / WG), 1, entries.length],
  });
}
