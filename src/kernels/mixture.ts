/**
 * Host side of the three mixture kernels:
 * - shaders/mixture.wgsl: out = sum_j w_j E_member(j)
 * - shaders/mixture_softmax_backward.wgsl: gradient of the gate logits
 * - shaders/mixture_backward.wgsl: gradient of the expert outputs
 * CPU reference: src/reference/mixture.ts. Test: test/mixture.test.ts.
 */
import forwardSource from '../../shaders/mixture.wgsl?raw';
import softmaxBackwardSource from '../../shaders/mixture_softmax_backward.wgsl?raw';
import expertBackwardSource from '../../shaders/mixture_backward.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import { bindRanges, createDispatch, grid1d, packDescriptors, type Dispatch } from './dispatch.js';

/** One gate's mixture. Members are ownCount experts from ownStart, then n - ownCount from sharedStart. */
export interface MixtureEntry {
  rows: number;
  /** Expert output width. */
  d: number;
  n: number;
  ownStart: number;
  ownCount: number;
  sharedStart: number;
  /** Gate weights [rows x n] at wOff with row stride wRow. */
  wOff: number;
  wRow: number;
  /** Expert outputs side by side: expert e's row r starts at zOff + r*zRow + e*d. */
  zOff: number;
  zRow: number;
  outOff: number;
  outRow: number;
}

export interface MixtureBackwardEntry extends Omit<MixtureEntry, 'outOff' | 'outRow'> {
  dgOff: number;
  dgRow: number;
  /** Where the gate-logit gradient goes ([rows x n]). */
  dlOff: number;
  dlRow: number;
}

/** One expert's output gradient, summed over the gates that mix it. */
export interface ExpertGradEntry {
  rows: number;
  d: number;
  /** (gate-weight column, dG offset) for each gate that mixes this expert. */
  members: { wCol: number; dgOff: number }[];
  wOff: number;
  wRow: number;
  dgRow: number;
  dzOff: number;
  dzRow: number;
}

const WG = 64;
/** Adjacent outputs per invocation in the forward mixture and the expert-gradient kernel. */
const O_TILE = 4;

/** Extents shared by the forward and softmax-backward mixtures: gate weights and expert outputs. */
const gateWExtent = (e: { wOff: number; wRow: number; rows: number; n: number }): [number, number] => [e.wOff, e.wOff + (e.rows - 1) * e.wRow + e.n];
const zExtent = (e: { zOff: number; zRow: number; rows: number }): [number, number] => [e.zOff, e.zOff + e.rows * e.zRow];

export function mixtureMember(e: Pick<MixtureEntry, 'ownStart' | 'ownCount' | 'sharedStart'>, j: number): number {
  return j < e.ownCount ? e.ownStart + j : e.sharedStart + j - e.ownCount;
}

const forwardFields = ['rows', 'd', 'n', 'ownStart', 'ownCount', 'sharedStart', 'wOff', 'wRow', 'zOff', 'zRow', 'outOff', 'outRow'] as const;

export function mixtureDispatch(
  ctx: GpuContext,
  label: string,
  entries: readonly MixtureEntry[],
  buffers: { gateW: GPUBuffer; z: GPUBuffer; out: GPUBuffer },
): Promise<Dispatch> {
  const [x, y] = grid1d(Math.max(...entries.map((e) => e.rows * Math.ceil(e.d / O_TILE))), WG, ctx.limits.maxComputeWorkgroupsPerDimension);
  const bound = bindRanges(ctx, label, entries, [
    { buffer: buffers.gateW, extent: gateWExtent, offsets: ['wOff'] },
    { buffer: buffers.z, extent: zExtent, offsets: ['zOff'] },
    { buffer: buffers.out, extent: (e) => [e.outOff, e.outOff + (e.rows - 1) * e.outRow + e.d], offsets: ['outOff'] },
  ]);
  return createDispatch(ctx, {
    label: `mixture ${label}`,
    source: forwardSource,
    constants: { WG, O_TILE },
    descriptors: packDescriptors(forwardFields, 16, bound.entries),
    bindings: bound.bindings,
    grid: [x, y, entries.length],
  });
}

const softmaxBackwardFields = [
  'rows', 'd', 'n', 'ownStart', 'ownCount', 'sharedStart', 'wOff', 'wRow',
  'zOff', 'zRow', 'dgOff', 'dgRow', 'dlOff', 'dlRow',
] as const;

export function mixtureSoftmaxBackwardDispatch(
  ctx: GpuContext,
  label: string,
  entries: readonly MixtureBackwardEntry[],
  buffers: { gateW: GPUBuffer; z: GPUBuffer; dG: GPUBuffer; dLogit: GPUBuffer },
): Promise<Dispatch> {
  const [x, y] = grid1d(Math.max(...entries.map((e) => e.rows)), WG, ctx.limits.maxComputeWorkgroupsPerDimension);
  const bound = bindRanges(ctx, label, entries, [
    { buffer: buffers.gateW, extent: gateWExtent, offsets: ['wOff'] },
    { buffer: buffers.z, extent: zExtent, offsets: ['zOff'] },
    { buffer: buffers.dG, extent: (e) => [e.dgOff, e.dgOff + (e.rows - 1) * e.dgRow + e.d], offsets: ['dgOff'] },
    { buffer: buffers.dLogit, extent: (e) => [e.dlOff, e.dlOff + (e.rows - 1) * e.dlRow + e.n], offsets: ['dlOff'] },
  ]);
  return createDispatch(ctx, {
    label: `mixture_softmax_backward ${label}`,
    source: softmaxBackwardSource,
    constants: { WG },
    descriptors: packDescriptors(softmaxBackwardFields, 16, bound.entries),
    bindings: bound.bindings,
    grid: [x, y, entries.length],
  });
}

const expertFields = ['rows', 'd', 'memberStart', 'memberCount', 'wOff', 'wRow', 'dgRow', 'dzOff', 'dzRow'] as const;

export async function mixtureBackwardDispatch(
  ctx: GpuContext,
  label: string,
  entries: readonly ExpertGradEntry[],
  buffers: { gateW: GPUBuffer; dG: GPUBuffer; dZ: GPUBuffer },
): Promise<Dispatch> {
  const bound = bindRanges(ctx, label, entries, [
    { buffer: buffers.gateW, extent: (e) => [e.wOff, e.wOff + (e.rows - 1) * e.wRow + Math.max(0, ...e.members.map((m) => m.wCol + 1))], offsets: ['wOff'] },
    {
      buffer: buffers.dG,
      extent: (e) => (e.members.length === 0 ? null : [Math.min(...e.members.map((m) => m.dgOff)), Math.max(...e.members.map((m) => m.dgOff)) + (e.rows - 1) * e.dgRow + e.d]),
      offsets: [],
    },
    { buffer: buffers.dZ, extent: (e) => [e.dzOff, e.dzOff + (e.rows - 1) * e.dzRow + e.d], offsets: ['dzOff'] },
  ]);
  const dgStart = bound.starts[1];
  const members: number[] = [];
  const packed = bound.entries.map((e) => {
    const memberStart = members.length / 2;
    for (const m of e.members) members.push(m.wCol, m.dgOff - dgStart);
    return { ...e, memberStart, memberCount: e.members.length };
  });
  const [x, y] = grid1d(Math.max(...entries.map((e) => e.rows * Math.ceil(e.d / O_TILE))), WG, ctx.limits.maxComputeWorkgroupsPerDimension);
  const memberTable = ctx.createDataBuffer(`mixture_backward ${label} members`, Uint32Array.from(members.length ? members : [0, 0]));
  const dispatch = await createDispatch(ctx, {
    label: `mixture_backward ${label}`,
    source: expertBackwardSource,
    constants: { WG, O_TILE },
    descriptors: packDescriptors(expertFields, 12, packed),
    bindings: [{ buffer: memberTable }, ...bound.bindings],
    grid: [x, y, entries.length],
  });
  dispatch.owned.push(memberTable);
  return dispatch;
}
