/**
 * Host side of shaders/optimizer.wgsl: one fused step of SGD-momentum, Adam or
 * AdamW over the whole flat parameter buffer.
 * CPU reference: src/reference/optimizer.ts. Test: test/optimizer.test.ts.
 */
import source from '../../shaders/optimizer.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import { ConfigError } from '../config.js';
import { createDispatch, grid1d, type Dispatch } from './dispatch.js';

export type OptimizerConfig =
  | { kind: 'adam' | 'adamw'; lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number }
  | { kind: 'sgd'; lr: number; momentum?: number; weightDecay?: number };

export interface ResolvedOptimizer {
  kind: 'sgd' | 'adam' | 'adamw';
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  momentum: number;
}

export function resolveOptimizer(o: OptimizerConfig): ResolvedOptimizer {
  const num = (v: unknown, field: string, ok: (x: number) => boolean, rule: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new ConfigError(`optimizer.${field}`, `must be ${rule}, got ${String(v)}`);
    return v;
  };
  if (!o || !['sgd', 'adam', 'adamw'].includes(o.kind)) {
    throw new ConfigError('optimizer.kind', `must be "sgd", "adam" or "adamw", got ${JSON.stringify(o?.kind)}`);
  }
  const lr = num(o.lr, 'lr', (x) => x >= 0, 'a finite number >= 0');
  const weightDecay = num(o.weightDecay ?? 0, 'weightDecay', (x) => x >= 0, 'a finite number >= 0');
  if (o.kind === 'sgd') {
    const momentum = num(o.momentum ?? 0, 'momentum', (x) => x >= 0 && x < 1, 'in [0, 1)');
    return { kind: 'sgd', lr, beta1: 0, beta2: 0, eps: 0, weightDecay, momentum };
  }
  return {
    kind: o.kind,
    lr,
    beta1: num(o.beta1 ?? 0.9, 'beta1', (x) => x >= 0 && x < 1, 'in [0, 1)'),
    beta2: num(o.beta2 ?? 0.999, 'beta2', (x) => x >= 0 && x < 1, 'in [0, 1)'),
    eps: num(o.eps ?? 1e-8, 'eps', (x) => x > 0, 'a finite number > 0'),
    weightDecay,
    momentum: 0,
  };
}

/** The kernel's uniform block for step `t` (1-based), learning rate `lr` and gradient scale. */
export function optimizerUniform(o: ResolvedOptimizer, t: number, lr: number, gradScale: number, count: number): ArrayBuffer {
  const data = new ArrayBuffer(64);
  const u = new Uint32Array(data);
  const f = new Float32Array(data);
  u[0] = o.kind === 'sgd' ? 0 : o.kind === 'adam' ? 1 : 2;
  u[1] = count;
  f[2] = lr;
  f[3] = o.beta1;
  f[4] = o.beta2;
  f[5] = o.eps;
  f[6] = o.weightDecay;
  f[7] = 1 - Math.pow(o.beta1, t);
  f[8] = 1 - Math.pow(o.beta2, t);
  f[9] = o.momentum;
  f[10] = gradScale;
  f[11] = 1 - o.beta1;
  f[12] = 1 - o.beta2;
  return data;
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
    label: 'optimizer',
    source,
    constants: { WG },
    bindings: [buffers.uniform, buffers.params, buffers.grads, buffers.m1, buffers.m2, { buffer: buffers.clip, offset: 0, size: 16 }],
    grid: [x, y, 1],
  });
}
