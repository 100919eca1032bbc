/**
 * Host side of shaders/grad_norm.wgsl: the global gradient norm and the
 * clipping scale the optimizer applies, computed on the GPU.
 * CPU reference: src/reference/grad_norm.ts. Test: test/grad_norm.test.ts.
 */
import source from '../../shaders/grad_norm.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import { createDispatch, type Dispatch } from './dispatch.js';

export interface GradNormBuffers {
  /** 16 bytes: count (u32), pad, maxNorm (f32), pad. */
  uniform: GPUBuffer;
  grads: GPUBuffer;
  /** [scale, norm] written here. */
  out: GPUBuffer;
}

const WG = 256;

export function gradNormUniform(count: number, maxNorm: number): ArrayBuffer {
  const data = new ArrayBuffer(16);
  new Uint32Array(data)[0] = count;
  new Float32Array(data)[2] = maxNorm;
  return data;
}

export function gradNormDispatch(ctx: GpuContext, buffers: GradNormBuffers): Promise<Dispatch> {
  return createDispatch(ctx, {
    label: 'grad_norm',
    source,
    constants: { WG },
    bindings: [buffers.uniform, buffers.grads, { buffer: buffers.out, offset: 0, size: 16 }],
    grid: [1, 1, 1],
  });
}
