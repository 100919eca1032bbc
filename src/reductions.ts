/**
 * Which path each reduction kernel takes on a device (src/kernels/lanes.ts): the plain one,
 * which every adapter runs, or the subgroup one, where the device has the `subgroups` feature.
 * A plan takes `reductions` (PlanOptions); by default {@link reductionPathsFor} chooses.
 */
import type { GpuContext } from './gpu/context.js';
import type { ReductionPath } from './kernels/lanes.js';

export type { ReductionPath };

/** The kernels with a plain and a subgroup path. */
export const reductionKernels = ['gate_softmax', 'mixture_gate_grad', 'task_loss', 'grad_norm'] as const;
export type ReductionKernel = (typeof reductionKernels)[number];
export type ReductionPaths = Record<ReductionKernel, ReductionPath>;

/** Every kernel on one path. */
export function allOnPath(path: ReductionPath): ReductionPaths {
  return Object.fromEntries(reductionKernels.map((k) => [k, path])) as ReductionPaths;
}

/**
 * The default paths on a device: plain without the `subgroups` feature; with it, the subgroup
 * path for every kernel.
 */
export function reductionPathsFor(ctx: GpuContext): ReductionPaths {
  return allOnPath(ctx.subgroups ? 'subgroup' : 'plain');
}
