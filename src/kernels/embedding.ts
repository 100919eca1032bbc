/**
 * Host side of the embedding kernels:
 * - shaders/embedding_gather.wgsl: lookup into the input rows
 * - shaders/embedding_backward.wgsl: gradients of the looked-up table rows
 * and the batch's per-table CSR (distinct rows and their samples) they read.
 * CPU reference: src/reference/embedding.ts. Test: test/embedding.test.ts.
 */
import gatherSource from '../../shaders/embedding_gather.wgsl?raw';
import backwardSource from '../../shaders/embedding_backward.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import { bindRanges, createDispatch, grid1d, type Dispatch } from './dispatch.js';
import { struct } from './struct.js';

export interface GatherEntry {
  rows: number;
  dim: number;
  vocabulary: number;
  idxOff: number;
  idxRow: number;
  tableOff: number;
  xOff: number;
  xRow: number;
}

export interface ScatterEntry {
  /** Batch capacity B: the CSR region holds 3B + 2 words. */
  capacity: number;
  dim: number;
  csrOff: number;
  /** dx of group g, row b, component j is at dxOff + g*groupStride + b*dxRow + j. */
  dxOff: number;
  dxRow: number;
  groups: number;
  groupStride: number;
  gradOff: number;
}

const WG = 64;

export const GATHER_DESCRIPTOR = struct('Gather', {
  rows: 'u32', dim: 'u32', vocabulary: 'u32', idxOff: 'u32',
  idxRow: 'u32', tableOff: 'u32', xOff: 'u32', xRow: 'u32',
});

export const SCATTER_DESCRIPTOR = struct('Scatter', {
  capacity: 'u32', dim: 'u32', csrOff: 'u32', dxOff: 'u32',
  dxRow: 'u32', groups: 'u32', groupStride: 'u32', gradOff: 'u32',
});

/** Words of a table's CSR region for batch capacity B. */
export const csrWords = (B: number) => 3 * B + 2;

/**
 * Writes a table's CSR for `rows` indices into `words` (a u32 view) at `at`:
 * count, the distinct rows, count + 1 starts, then the samples grouped by row.
 */
export function writeCsr(words: Uint32Array, at: number, capacity: number, index: (r: number) => number, rows: number): void {
  const byRow = new Map<number, number[]>();
  for (let r = 0; r < rows; r++) {
    const v = index(r);
    let list = byRow.get(v);
    if (!list) byRow.set(v, (list = []));
    list.push(r);
  }
  words[at] = byRow.size;
  let u = 0;
  let p = 0;
  const startsAt = at + 1 + capacity;
  const samplesAt = startsAt + capacity + 1;
  for (const [row, samples] of byRow) {
    words[at + 1 + u] = row;
    words[startsAt + u] = p;
    for (const b of samples) words[samplesAt + p++] = b;
    u++;
  }
  words[startsAt + u] = p;
}

export function embeddingGatherDispatch(
  ctx: GpuContext,
  label: string,
  entries: readonly GatherEntry[],
  buffers: { indices: GPUBuffer; tables: GPUBuffer; x: GPUBuffer },
): Promise<Dispatch> {
  const bound = bindRanges(ctx, label, entries, [
    { buffer: buffers.indices, extent: (e) => [e.idxOff, e.idxOff + (e.rows - 1) * e.idxRow + 1], offsets: ['idxOff'] },
    { buffer: buffers.tables, extent: (e) => [e.tableOff, e.tableOff + e.vocabulary * e.dim], offsets: ['tableOff'] },
    { buffer: buffers.x, extent: (e) => [e.xOff, e.xOff + (e.rows - 1) * e.xRow + e.dim], offsets: ['xOff'] },
  ]);
  const [x, y] = grid1d(Math.max(...entries.map((e) => e.rows * e.dim)), WG, ctx.limits.maxComputeWorkgroupsPerDimension);
  return createDispatch(ctx, {
    kernel: 'embedding_gather',
    name: label,
    source: gatherSource,
    constants: { WG },
    descriptors: GATHER_DESCRIPTOR.pack(bound.entries),
    bindings: bound.bindings,
    grid: [x, y, entries.length],
  });
}

export function embeddingBackwardDispatch(
  ctx: GpuContext,
  label: string,
  entries: readonly ScatterEntry[],
  vocabulary: readonly number[],
  buffers: { csr: GPUBuffer; dx: GPUBuffer; grad: GPUBuffer },
): Promise<Dispatch> {
  const withVocab = entries.map((e, z) => ({ ...e, vocabulary: vocabulary[z] }));
  const bound = bindRanges(ctx, label, withVocab, [
    { buffer: buffers.csr, extent: (e) => [e.csrOff, e.csrOff + csrWords(e.capacity)], offsets: ['csrOff'] },
    { buffer: buffers.dx, extent: (e) => [e.dxOff, e.dxOff + (e.groups - 1) * e.groupStride + (e.capacity - 1) * e.dxRow + e.dim], offsets: ['dxOff'] },
    { buffer: buffers.grad, extent: (e) => [e.gradOff, e.gradOff + e.vocabulary * e.dim], offsets: ['gradOff'] },
  ]);
  const [x, y] = grid1d(Math.max(...entries.map((e) => e.capacity * e.dim)), WG, ctx.limits.maxComputeWorkgroupsPerDimension);
  return createDispatch(ctx, {
    kernel: 'embedding_backward',
    name: label,
    source: backwardSource,
    constants: { WG },
    descriptors: SCATTER_DESCRIPTOR.pack(bound.entries),
    bindings: bound.bindings,
    grid: [x, y, entries.length],
  });
}
