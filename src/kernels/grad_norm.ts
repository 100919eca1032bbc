/**
 * Host side of shaders/grad_norm.wgsl: the global gradient norm and the
 * clipping scale the optimizer applies, computed on the GPU.
 * CPU reference: src/reference/grad_norm.ts. Test: test/grad_norm.test.ts.
 */
import source from '../../shaders/grad_norm.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import { createDispatch, type Dispatch } from './dispatch.js';
import { struct } from './struct.js';
import { withLanes, type ReductionPath } from './lanes.js';

export interface GradNormBuffers {
  /** CLIP_UNIFORM: count (u32), maxNorm (f32). */
  uniform: GPUBuffer;
  grads: GPUBuffer;
  /** [scale, norm] written here. */
  out: GPUBuffer;
}

const WG = 256;

/** The shader's uniform block. */
export const CLIP_UNIFORM = struct('Clip', { count: 'u32', pad0: 'u32', maxNorm: 'f32', pad1: 'f32' });

export function gradNormUniform(count: number, maxNorm: number): ArrayBuffer {
  const data = new ArrayBuffer(CLIP_UNIFORM.stride * 4);
  CLIP_UNIFORM.write(data, 0, { count, maxNorm });
  return data;
}

/** `path`: the workgroup's sum through workgroup memory (plain) or subgroups first (see lanes.ts). */
export function gradNormDispatch(ctx: GpuContext, buffers: GradNormBuffers, path: ReductionPath = 'plain'): Promise<Dispatch> {
  const lanes = withLanes(ctx, 'grad_norm', path, source, WG);
  return createDispatch(ctx, {
    kernel: 'grad_norm',
    path,
    name: 'step',
    source: lanes.source,
    constants: { WG: lanes.wg },
    bindings: [buffers.uniform, buffers.grads, { buffer: buffers.out, offset: 0, size: 16 }],
    grid: [1, 1, 1],
  });
}
