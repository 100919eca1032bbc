/**
 * The two paths of the reduction kernels (gate_softmax, mixture_gate_grad, task_loss,
 * grad_norm): `plain`, which any adapter runs, and `subgroup`, for a device with the
 * `subgroups` feature. A kernel is written once over "lane groups"; shaders/lanes_plain.wgsl
 * or shaders/lanes_subgroup.wgsl, prepended to it, says what a lane group is (one invocation,
 * or one subgroup) and how it sums. Which path each kernel takes: src/reductions.ts.
 */
import plainSource from '../../shaders/lanes_plain.wgsl?raw';
import subgroupSource from '../../shaders/lanes_subgroup.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';

/** `plain`: a row per invocation, sums through workgroup memory; `subgroup`: a row per subgroup, sums by subgroupAdd. */
export type ReductionPath = 'plain' | 'subgroup';

/** A kernel's source on a path, its workgroup size there, and the fewest rows a workgroup covers (for row-per-group kernels). */
export interface LanesBuild {
  source: string;
  wg: number;
  rowsPerWorkgroup: number;
}

/**
 * `source` (which declares `const WG`) prepared for `path` with workgroup size `wg` (raised to the
 * device's largest subgroup size on the subgroup path, so a workgroup holds whole subgroups).
 * @throws Error when the subgroup path is asked of a device without the `subgroups` feature.
 */
export function withLanes(ctx: GpuContext, kernel: string, path: ReductionPath, source: string, wg: number): LanesBuild {
  if (path === 'plain') return { source: plainSource + source, wg, rowsPerWorkgroup: wg };
  const sizes = ctx.subgroups;
  if (!sizes) throw new Error(`${kernel}: the subgroup path needs a device with the 'subgroups' feature, which this device does not have`);
  const size = Math.max(wg, sizes.maxSize);
  // The largest subgroups give the fewest rows per workgroup; smaller ones leave workgroups past the last row idle.
  return { source: subgroupSource + source, wg: size, rowsPerWorkgroup: size / sizes.maxSize };
}
