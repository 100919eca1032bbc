/**
 * What every kernel module shares: grid sizing within the device's limits,
 * narrowing bindings to what a dispatch touches, and creating the pipeline +
 * bind group once. Descriptor tables (one struct per batch entry, the entry
 * index being the workgroup grid's z) are packed from declarations in struct.ts.
 */
import type { GpuContext } from '../gpu/context.js';
import { specialize, specializeTypes, unroll } from '../gpu/specialize.js';
import { LimitError } from '../limits.js';

export interface Dispatch {
  /** The kernel (its shader's name), e.g. `batched_gemm`: what profiles group by and pipelines are cached under. */
  kernel: string;
  /** What this dispatch computes in its plan, e.g. `level0.layer0.dW`. */
  name: string;
  /** `kernel name`, the label of its GPU objects. */
  label: string;
  /** Which of the kernel's paths it runs, for kernels with several (the reductions: 'plain' or 'subgroup'). */
  path?: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  grid: [number, number, number];
  /** Buffers created for this dispatch alone (descriptor tables), freed with it. */
  owned: GPUBuffer[];
}

/** An operation of an encoded step: a dispatch, or zero-filling a byte range (outside a compute pass). */
export type Op = { kind: 'dispatch'; dispatch: Dispatch } | { kind: 'clear'; name: string; buffer: GPUBuffer; offset: number; size: number };

/** The kernel an op runs (`clear` for a zero fill): what a profile groups by. */
export const opKernel = (op: Op): string => (op.kind === 'dispatch' ? op.dispatch.kernel : 'clear');
/** The op's name in its plan, e.g. `level0.layer0.dW`. */
export const opName = (op: Op): string => (op.kind === 'dispatch' ? op.dispatch.name : op.name);

/** Workgroup counts for `count` items of `perGroup` each, folded into y when x would pass the limit. */
export function grid1d(count: number, perGroup: number, maxPerDim: number): [number, number] {
  const groups = Math.max(1, Math.ceil(count / perGroup));
  const x = Math.min(groups, maxPerDim);
  return [x, Math.ceil(groups / x)];
}

export function checkGrid(ctx: GpuContext, label: string, grid: [number, number, number]): void {
  const limit = ctx.limits.maxComputeWorkgroupsPerDimension;
  grid.forEach((n, axis) => {
    if (n > limit) {
      throw new LimitError(
        'maxComputeWorkgroupsPerDimension',
        `${label}: dispatch needs ${n} workgroups along ${'xyz'[axis]}, the device allows ${limit}`,
      );
    }
  });
}

/**
 * One storage binding of a kernel, described by what each entry touches so the
 * binding can be narrowed to that range. WebGPU forbids two writable bindings
 * of one buffer with overlapping ranges in a dispatch, and all our arena
 * bindings are writable, so every binding covers only its own views.
 */
export interface RangedBinding<T> {
  buffer: GPUBuffer;
  /** Elements [lo, hi) of `buffer` that an entry reads or writes here; null when it uses none. */
  extent: (entry: T) => [number, number] | null;
  /** The entry's offset fields that address this binding; they are rebased to the range start. */
  offsets: (keyof T & string)[];
}

export interface BoundRanges<T> {
  /** Entries with offsets relative to their binding's start. */
  entries: T[];
  bindings: GPUBufferBinding[];
  /** Start (in elements) of each binding's range within its buffer. */
  starts: number[];
}

/**
 * Narrows each binding to the union of its entries' extents (start aligned down
 * to minStorageBufferOffsetAlignment), rebases offsets, binds the context's
 * placeholder buffer where no entry uses a binding, and refuses overlapping
 * ranges of one buffer.
 */
export function bindRanges<T extends object>(ctx: GpuContext, label: string, entries: readonly T[], specs: RangedBinding<T>[]): BoundRanges<T> {
  const align = ctx.limits.minStorageBufferOffsetAlignment / 4;
  const rebased = entries.map((e) => ({ ...e }));
  const bindings: GPUBufferBinding[] = [];
  const starts: number[] = [];
  const ranges: { buffer: GPUBuffer; lo: number; hi: number; index: number }[] = [];
  specs.forEach((spec, index) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const e of entries) {
      const x = spec.extent(e);
      if (!x) continue;
      lo = Math.min(lo, x[0]);
      hi = Math.max(hi, x[1]);
    }
    if (lo === Infinity) {
      // Unused here: a slot of the placeholder buffer of its own, so unused bindings never alias.
      const slot = ctx.limits.minStorageBufferOffsetAlignment;
      bindings.push({ buffer: ctx.placeholderBuffer, offset: index * slot, size: slot });
      starts.push(0);
      return;
    }
    const start = Math.floor(lo / align) * align;
    if (hi * 4 > spec.buffer.size) throw new Error(`${label}: binding ${index} reaches element ${hi}, past the end of ${spec.buffer.label}`);
    for (const r of ranges) {
      if (r.buffer === spec.buffer && start < r.hi && r.lo < hi) {
        throw new Error(`${label}: bindings ${r.index} and ${index} overlap in ${spec.buffer.label} ([${r.lo}, ${r.hi}) and [${start}, ${hi}))`);
      }
    }
    ranges.push({ buffer: spec.buffer, lo: start, hi, index });
    rebased.forEach((e, z) => {
      if (!spec.extent(entries[z])) return;
      for (const f of spec.offsets) {
        const v = (e as Record<string, unknown>)[f];
        if (typeof v === 'number') (e as Record<string, unknown>)[f] = v - start;
      }
    });
    bindings.push({ buffer: spec.buffer, offset: start * 4, size: (hi - start) * 4 });
    starts.push(start);
  });
  return { entries: rebased, bindings, starts };
}

export interface DispatchSpec {
  kernel: string;
  name: string;
  /** See Dispatch.path. */
  path?: string;
  source: string;
  constants?: Record<string, number>;
  /** Types for the shader's `alias NAME = type;` lines (specializeTypes). */
  types?: Record<string, string>;
  /** The shader's entry point (default `main`). */
  entryPoint?: string;
  /** Binding 0 when given: the descriptor table. */
  descriptors?: Uint32Array;
  /** The remaining bindings in order: buffers (whole) or resources. */
  bindings: (GPUBuffer | GPUBufferBinding)[];
  grid: [number, number, number];
}

/**
 * Creates the pipeline (cached by source) and the bind group. `owned` buffers (created by the
 * caller for this dispatch alone) join the descriptor table in the dispatch's `owned`; should
 * creation fail, they and the table are freed before the error propagates.
 */
export async function createDispatch(ctx: GpuContext, spec: DispatchSpec, owned: GPUBuffer[] = []): Promise<Dispatch> {
  const label = `${spec.kernel} ${spec.name}`;
  try {
    checkGrid(ctx, label, spec.grid);
    const typed = spec.types ? specializeTypes(spec.source, spec.types) : spec.source;
    const source = spec.constants ? unroll(specialize(typed, spec.constants), spec.constants) : typed;
    const pipeline = await ctx.pipelines.get(spec.kernel, source, spec.entryPoint);
    const resources: GPUBufferBinding[] = [];
    if (spec.descriptors) {
      const table = ctx.createDataBuffer(`${label} descriptors`, spec.descriptors);
      owned.push(table);
      resources.push({ buffer: table });
    }
    for (const b of spec.bindings) resources.push('buffer' in b ? (b as GPUBufferBinding) : { buffer: b as GPUBuffer });
    const bindGroup = ctx.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: resources.map((resource, binding) => ({ binding, resource })),
    });
    return { kernel: spec.kernel, name: spec.name, label, path: spec.path, pipeline, bindGroup, grid: spec.grid, owned };
  } catch (e) {
    for (const b of owned) ctx.destroyBuffer(b);
    throw e;
  }
}

export function encodeDispatch(pass: GPUComputePassEncoder, d: Dispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(d.grid[0], d.grid[1], d.grid[2]);
}

/** Encodes ops into `encoder`, opening a compute pass for each run of dispatches. */
export function encodeOps(encoder: GPUCommandEncoder, ops: readonly Op[], label: string): void {
  let pass: GPUComputePassEncoder | null = null;
  for (const op of ops) {
    if (op.kind === 'dispatch') {
      pass ??= encoder.beginComputePass({ label });
      encodeDispatch(pass, op.dispatch);
    } else {
      pass?.end();
      pass = null;
      encoder.clearBuffer(op.buffer, op.offset, op.size);
    }
  }
  pass?.end();
}
