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
import { kernelShapesFor, type KernelShapes } from './shapes.js';

export interface GradNormBuffers {
  /** CLIP_UNIFORM: count (u32), maxNorm (f32). */
  uniform: GPUBuffer;
  grads: GPUBuffer;
  /** [scale, norm] written here, after the partial sums' slots (gradNormOutBytes). */
  out: GPUBuffer;
}

/** Bytes of the out buffer with `parts` partial sums: scale, norm, then the partials. */
export function gradNormOutBytes(parts: number): number {
  return Math.ceil((2 + parts) / 4) * 16;
}

/** The shader's uniform block. */
export const CLIP_UNIFORM = struct('Clip', { count: 'u32', pad0: 'u32', maxNorm: 'f32', pad1: 'f32' });

export function gradNormUniform(count: number, maxNorm: number): ArrayBuffer {
  const data = new ArrayBuffer(CLIP_UNIFORM.stride * 4);
  CLIP_UNIFORM.write(data, 0, { count, maxNorm });
  return data;
}

/**
 * The two dispatches, partial sums then the total: `shape.parts` workgroups of `shape.wg` (default
 * kernelShapesFor(ctx.adapter).gradNorm) each sum the squares of their share, and one workgroup adds them
 * up. `path`: each workgroup's sum through workgroup memory (plain) or subgroups first (see lanes.ts).
 */
export async function gradNormDispatches(ctx: GpuContext, buffers: GradNormBuffers, path: ReductionPath = 'plain', shape: KernelShapes['gradNorm'] = kernelShapesFor(ctx.adapter).gradNorm): Promise<[Dispatch, Dispatch]> {
  const lanes = withLanes(ctx, 'grad_norm', path, source, shape.wg);
  const { parts } = shape;
  if (!(parts >= 1 && parts <= lanes.wg)) throw new Error(`grad_norm: ${parts} partial sums; 1 to ${lanes.wg} fit the workgroup that adds them up`);
  const out = { buffer: buffers.out, offset: 0, size: gradNormOutBytes(parts) };
  const stage = (entryPoint: string, name: string, workgroups: number, bindings: (GPUBuffer | GPUBufferBinding)[]) =>
    createDispatch(ctx, {
      kernel: 'grad_norm',
      path,
      name,
      entryPoint,
      source: lanes.source,
      constants: { WG: lanes.wg, PARTS: parts },
      bindings,
      grid: [workgroups, 1, 1],
    });
  return Promise.all([stage('partials', 'partials', parts, [buffers.uniform, out, buffers.grads]), stage('total', 'step', 1, [buffers.uniform, out])]);
}
