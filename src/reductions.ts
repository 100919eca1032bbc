/**
 * Which path each reduction kernel takes on a device (src/kernels/lanes.ts): the plain one,
 * which every adapter runs, or the subgroup one, where the device has the `subgroups` feature.
 * A plan takes `reductions` (PlanOptions); by default {@link reductionPathsFor} chooses.
 */
import { isSoftwareAdapter, type GpuContext } from './gpu/context.js';
import type { ReductionPath } from './kernels/lanes.js';

export type { ReductionPath };

/** The kernels with a plain and a subgroup path. */
export const reductionKernels = ['gate_softmax', 'mixture_gate_grad', 'task_loss', 'grad_norm'] as const;
/** A kernel with a plain and a subgroup path. */
export type ReductionKernel = (typeof reductionKernels)[number];
/** The path each reduction kernel takes. */
export type ReductionPaths = Record<ReductionKernel, ReductionPath>;

/** Every kernel on one path. */
export function allOnPath(path: ReductionPath): ReductionPaths {
  return Object.fromEntries(reductionKernels.map((k) => [k, path])) as ReductionPaths;
}

/**
 * Where subgroups pay on a software adapter (SwiftShader, subgroups of 4 lanes of one CPU core's
 * SIMD unit), measured side by side by `npm run bench:variants` on bench-small: the workgroup sums
 * (task_loss, grad_norm) run a little faster on subgroups; the row kernels (gate_softmax,
 * mixture_gate_grad), whose lanes then share one short row instead of each taking a row of its
 * own, run ~1.3x slower.
 */
const softwarePaths: ReductionPaths = { gate_softmax: 'plain', mixture_gate_grad: 'plain', task_loss: 'subgroup', grad_norm: 'subgroup' };

/**
 * The default paths on a device, by rule rather than by timing (the reductions are a few percent of
 * a step, and timing both paths would compile every reduction pipeline twice at startup, seconds on
 * a software adapter): plain everywhere without the `subgroups` feature; with it, on a software
 * adapter the subgroup path for task_loss and grad_norm only; on a hardware adapter the subgroup
 * path everywhere (where a subgroup is 32 or 64 lanes, a row per subgroup is the usual shape of a
 * row reduction; not yet timed on a hardware adapter).
 */
export function reductionPathsFor(ctx: GpuContext): ReductionPaths {
  if (!ctx.subgroups) return allOnPath('plain');
  if (isSoftwareAdapter(ctx.adapter)) return { ...softwarePaths };
  return allOnPath('subgroup');
}
