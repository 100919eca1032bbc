/**
 * Host side of shaders/optimizer.wgsl: one fused step of SGD-momentum, Adam or
 * AdamW over the whole flat parameter buffer.
 * CPU reference: src/reference/optimizer.ts. Test: test/optimizer.test.ts.
 */
import source from '../../shaders/optimizer.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import type { ResolvedOptimizer } from '../config.js';
import { createDispatch, grid1d, type Dispatch } from './dispatch.js';
import { struct } from './struct.js';

/** The shader's uniform block. */
export const OPTIMIZER_UNIFORM = struct('Optimizer', {
  kind: 'u32', count: 'u32', lr: 'f32', beta1: 'f32',
  beta2: 'f32', eps: 'f32', weightDecay: 'f32', bc1: 'f32',
  bc2: 'f32', momentum: 'f32', gradScale: 'f32', omb1: 'f32',
  omb2: 'f32', decayEnd: 'u32',
});

const KINDS = { sgd: 0, adam: 1, adamw: 2 } as const;

/**
 * The kernel's uniform block for step `t` (1-based), learning rate `lr` and gradient scale.
 * Bias corrections and 1 - beta are taken here in float64 (see shaders/optimizer.wgsl).
 * Weight decay applies to parameters [0, decayEnd) only: every weight, bias and embedding row;
 * the uncertainty weighting's log-variances sit last in the parameter buffer (spec.ts) and never
 * decay, since decaying them would change the objective they minimise (see weightDecayEnd).
 */
export function optimizerUniform(o: ResolvedOptimizer, t: number, lr: number, gradScale: number, count: number, decayEnd = count): ArrayBuffer {
  const data = new ArrayBuffer(OPTIMIZER_UNIFORM.stride * 4);
  OPTIMIZER_UNIFORM.write(data, 0, {
    kind: KINDS[o.kind],
    count,
    lr,
    beta1: o.beta1,
    beta2: o.beta2,
    eps: o.eps,
    weightDecay: o.weightDecay,
    bc1: 1 - Math.pow(o.beta1, t),
    bc2: 1 - Math.pow(o.beta2, t),
    momentum: o.momentum,
    gradScale,
    omb1: 1 - o.beta1,
    omb2: 1 - o.beta2,
    decayEnd,
  });
  return data;
}

/** Where weight decay stops in a parameter arena: at the log-variances (the last view) when the model has them. */
export function weightDecayEnd(params: { size: number; views: Map<string, { offset: number }> }, logVarianceName: string): number {
  return params.views.get(logVarianceName)?.offset ?? params.size;
}

export interface OptimizerBuffers {
  uniform: GPUBuffer;
  params: GPUBuffer;
  grads: GPUBuffer;
  m1: GPUBuffer;
  m2: GPUBuffer;
  /** clip[0] scales every gradient (grad_norm.wgsl writes it; 1 when clipping is off). */
  clip: GPUBuffer;
}

const WG = 256;

export function optimizerDispatch(ctx: GpuContext, count: number, buffers: OptimizerBuffers): Promise<Dispatch> {
  const [x, y] = grid1d(count, WG, ctx.limits.maxComputeWorkgroupsPerDimension);
  return createDispatch(ctx, {
    kernel: 'optimizer',
    name: 'step',
    source,
    constants: { WG },
    bindings: [buffers.uniform, buffers.params, buffers.grads, buffers.m1, buffers.m2, { buffer: buffers.clip, offset: 0, size: 16 }],
    grid: [x, y, 1],
  });
}
