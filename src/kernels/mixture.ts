/**
 * Host side of the three mixture kernels, which share shaders/mixture_common.wgsl
 * (the `Mixture` descriptor and member()):
 * - shaders/mixture.wgsl (mixtureDispatch): out = sum_j w_j E_member(j)
 * - shaders/mixture_gate_grad.wgsl (gateGradDispatch): gradient of the gate logits
 * - shaders/mixture_expert_grad.wgsl (expertGradDispatch): gradient of the expert outputs
 * CPU reference: src/reference/mixture.ts. Test: test/mixture.test.ts.
 */
import commonSource from '../../shaders/mixture_common.wgsl?raw';
import tileSource from '../../shaders/mixture_tile.wgsl?raw';
import forwardSource from '../../shaders/mixture.wgsl?raw';
import gateGradSource from '../../shaders/mixture_gate_grad.wgsl?raw';
import expertGradSource from '../../shaders/mixture_expert_grad.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import { kernelShapesFor } from './shapes.js';
import { bindRanges, createDispatch, grid1d, type Dispatch } from './dispatch.js';
import { struct } from './struct.js';
import { withLanes, type ReductionPath } from './lanes.js';

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

/** One gate's logit gradient: its mixture's inputs, the mixture's gradient dG, and where the logit gradient goes. */
export interface GateGradEntry extends Omit<MixtureEntry, 'outOff' | 'outRow'> {
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

/** Workgroup size of the mixture kernels. */
const WG = 64;

/** Options of the forward mixture and the expert gradient. */
export interface MixtureOptions {
  /** Adjacent outputs per invocation (default kernelShapesFor(ctx.adapter).mixtureOutputs). */
  outputsPerInvocation?: number;
}

/** The descriptor of mixture.wgsl and mixture_gate_grad.wgsl (mixture_common.wgsl); each fills its own fields, the other's are 0. */
export const MIXTURE_DESCRIPTOR = struct('Mixture', {
  rows: 'u32', d: 'u32', n: 'u32', ownStart: 'u32',
  ownCount: 'u32', sharedStart: 'u32', wOff: 'u32', wRow: 'u32',
  zOff: 'u32', zRow: 'u32', outOff: 'u32', outRow: 'u32',
  dgOff: 'u32', dgRow: 'u32', dlOff: 'u32', dlRow: 'u32',
});

export const EXPERT_GRAD_DESCRIPTOR = struct('ExpertGrad', {
  rows: 'u32', d: 'u32', memberStart: 'u32', memberCount: 'u32',
  wOff: 'u32', wRow: 'u32', dgRow: 'u32', dzOff: 'u32',
  dzRow: 'u32', experts: 'u32', dzStep: 'u32',
});

/** Consecutive expert-gradient entries in one descriptor: `experts` of them, their dZ blocks dzStep apart. */
interface ExpertGradRun extends ExpertGradEntry {
  experts: number;
  dzStep: number;
}

/**
 * `entries` in runs of at most `most`: consecutive entries that the same gates (same dG blocks, in
 * order) mix in adjacent gate-weight columns, with their dZ blocks equally far apart, share a
 * descriptor. Anything else starts a run of its own.
 */
export function expertGradRuns(entries: readonly ExpertGradEntry[], most: number): ExpertGradRun[] {
  const runs: ExpertGradRun[] = [];
  for (let i = 0; i < entries.length; ) {
    const a = entries[i];
    const step = entries[i + 1] ? entries[i + 1].dzOff - a.dzOff : 0;
    const joins = (b: ExpertGradEntry, k: number) =>
      step >= a.d &&
      b.rows === a.rows && b.d === a.d && b.wOff === a.wOff && b.wRow === a.wRow && b.dgRow === a.dgRow && b.dzRow === a.dzRow &&
      b.dzOff === a.dzOff + k * step &&
      b.members.length === a.members.length &&
      b.members.every((m, p) => m.dgOff === a.members[p].dgOff && m.wCol === a.members[p].wCol + k);
    let count = 1;
    while (count < most && i + count < entries.length && joins(entries[i + count], count)) count++;
    runs.push({ ...a, experts: count, dzStep: count > 1 ? step : 0 });
    i += count;
  }
  return runs;
}

/** Extents shared by the forward mixture and the gate gradient: gate weights and expert outputs. */
const gateWExtent = (e: { wOff: number; wRow: number; rows: number; n: number }): [number, number] => [e.wOff, e.wOff + (e.rows - 1) * e.wRow + e.n];
const zExtent = (e: { zOff: number; zRow: number; rows: number }): [number, number] => [e.zOff, e.zOff + e.rows * e.zRow];

export function mixtureMember(e: Pick<MixtureEntry, 'ownStart' | 'ownCount' | 'sharedStart'>, j: number): number {
  return j < e.ownCount ? e.ownStart + j : e.sharedStart + j - e.ownCount;
}

export function mixtureDispatch(
  ctx: GpuContext,
  label: string,
  entries: readonly MixtureEntry[],
  buffers: { gateW: GPUBuffer; z: GPUBuffer; out: GPUBuffer },
  options: MixtureOptions = {},
): Promise<Dispatch> {
  const O_TILE = options.outputsPerInvocation ?? kernelShapesFor(ctx.adapter).mixtureOutputs;
  const [x, y] = grid1d(Math.max(...entries.map((e) => e.rows * Math.ceil(e.d / O_TILE))), WG, ctx.limits.maxComputeWorkgroupsPerDimension);
  const bound = bindRanges(ctx, label, entries, [
    { buffer: buffers.gateW, extent: gateWExtent, offsets: ['wOff'] },
    { buffer: buffers.z, extent: zExtent, offsets: ['zOff'] },
    { buffer: buffers.out, extent: (e) => [e.outOff, e.outOff + (e.rows - 1) * e.outRow + e.d], offsets: ['outOff'] },
  ]);
  return createDispatch(ctx, {
    kernel: 'mixture',
    name: label,
    source: commonSource + tileSource + forwardSource,
    constants: { WG, O_TILE },
    descriptors: MIXTURE_DESCRIPTOR.pack(bound.entries.map((e) => ({ ...e, dgOff: 0, dgRow: 0, dlOff: 0, dlRow: 0 }))),
    bindings: bound.bindings,
    grid: [x, y, entries.length],
  });
}

/** `path`: one sample per invocation (plain) or per subgroup (see lanes.ts). */
export function gateGradDispatch(
  ctx: GpuContext,
  label: string,
  entries: readonly GateGradEntry[],
  buffers: { gateW: GPUBuffer; z: GPUBuffer; dG: GPUBuffer; dLogit: GPUBuffer },
  path: ReductionPath = 'plain',
): Promise<Dispatch> {
  const lanes = withLanes(ctx, 'mixture_gate_grad', path, commonSource + gateGradSource, WG);
  const [x, y] = grid1d(Math.max(...entries.map((e) => e.rows)), lanes.rowsPerWorkgroup, ctx.limits.maxComputeWorkgroupsPerDimension);
  const bound = bindRanges(ctx, label, entries, [
    { buffer: buffers.gateW, extent: gateWExtent, offsets: ['wOff'] },
    { buffer: buffers.z, extent: zExtent, offsets: ['zOff'] },
    { buffer: buffers.dG, extent: (e) => [e.dgOff, e.dgOff + (e.rows - 1) * e.dgRow + e.d], offsets: ['dgOff'] },
    { buffer: buffers.dLogit, extent: (e) => [e.dlOff, e.dlOff + (e.rows - 1) * e.dlRow + e.n], offsets: ['dlOff'] },
  ]);
  return createDispatch(ctx, {
    kernel: 'mixture_gate_grad',
    path,
    name: label,
    source: lanes.source,
    constants: { WG: lanes.wg },
    descriptors: MIXTURE_DESCRIPTOR.pack(bound.entries.map((e) => ({ ...e, outOff: 0, outRow: 0 }))),
    bindings: bound.bindings,
    grid: [x, y, entries.length],
  });
}

export function expertGradDispatch(
  ctx: GpuContext,
  label: string,
  entries: readonly ExpertGradEntry[],
  buffers: { gateW: GPUBuffer; dG: GPUBuffer; dZ: GPUBuffer },
  options: MixtureOptions & { expertsPerDescriptor?: number } = {},
): Promise<Dispatch> {
  const O_TILE = options.outputsPerInvocation ?? kernelShapesFor(ctx.adapter).mixtureOutputs;
  const EXPERTS = options.expertsPerDescriptor ?? kernelShapesFor(ctx.adapter).expertsPerDescriptor;
  const runs = expertGradRuns(entries, EXPERTS);
  const bound = bindRanges(ctx, label, runs, [
    { buffer: buffers.gateW, extent: (e) => [e.wOff, e.wOff + (e.rows - 1) * e.wRow + Math.max(0, ...e.members.map((m) => m.wCol + e.experts))], offsets: ['wOff'] },
    {
      buffer: buffers.dG,
      extent: (e) => (e.members.length === 0 ? null : [Math.min(...e.members.map((m) => m.dgOff)), Math.max(...e.members.map((m) => m.dgOff)) + (e.rows - 1) * e.dgRow + e.d]),
      offsets: [],
    },
    { buffer: buffers.dZ, extent: (e) => [e.dzOff, e.dzOff + (e.experts - 1) * e.dzStep + (e.rows - 1) * e.dzRow + e.d], offsets: ['dzOff'] },
  ]);
  const dgStart = bound.starts[1];
  const members: number[] = [];
  const packed = bound.entries.map((e) => {
    const memberStart = members.length / 2;
    for (const m of e.members) members.push(m.wCol, m.dgOff - dgStart);
    return { ...e, memberStart, memberCount: e.members.length };
  });
  const [x, y] = grid1d(Math.max(...entries.map((e) => e.rows * Math.ceil(e.d / O_TILE))), WG, ctx.limits.maxComputeWorkgroupsPerDimension);
  const memberTable = ctx.createDataBuffer(`mixture_expert_grad ${label} members`, Uint32Array.from(members.length ? members : [0, 0]));
  return createDispatch(
    ctx,
    {
      kernel: 'mixture_expert_grad',
      name: label,
      source: commonSource + expertGradSource,
      constants: { WG, O_TILE, EXPERTS },
      descriptors: EXPERT_GRAD_DESCRIPTOR.pack(packed),
      bindings: [{ buffer: memberTable }, ...bound.bindings],
      grid: [x, y, runs.length],
    },
    [memberTable],
  );
}
