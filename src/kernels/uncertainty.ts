/**
 * Host side of shaders/uncertainty.wgsl: learned per-task log-variances weighting the losses.
 * CPU reference: the uncertainty terms of src/reference/model.ts (referenceLoss). Test: test/model.test.ts.
 */
import source from '../../shaders/uncertainty.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import { bindRanges, createDispatch, type Dispatch } from './dispatch.js';
import { struct } from './struct.js';

export interface UncertaintyEntry {
  /** 0: effective weights before the loss; 1: log-variance gradients after it. */
  phase: 0 | 1;
  tasks: number;
  /** Offset of s_k in the parameter (and gradient) buffer. */
  sOff: number;
  /** Offset of the task-loss output pairs (loss, count). */
  lossOff: number;
}

export interface UncertaintyBuffers {
  /** w_k as the host sets them (static or dynamic weights). */
  base: GPUBuffer;
  params: GPUBuffer;
  /** The weights task_loss.wgsl reads. */
  effective: GPUBuffer;
  act: GPUBuffer;
  grads: GPUBuffer;
}

export const UNCERTAINTY_DESCRIPTOR = struct('Uncertainty', { phase: 'u32', tasks: 'u32', sOff: 'u32', lossOff: 'u32' });

export function uncertaintyDispatch(ctx: GpuContext, entry: UncertaintyEntry, buffers: UncertaintyBuffers): Promise<Dispatch> {
  if (entry.tasks > 64) throw new Error('uncertainty weighting supports at most 64 tasks');
  const bound = bindRanges(ctx, `phase ${entry.phase}`, [entry], [
    { buffer: buffers.params, extent: (e) => [e.sOff, e.sOff + e.tasks], offsets: [] },
    { buffer: buffers.act, extent: (e) => [e.lossOff, e.lossOff + 2 * e.tasks], offsets: ['lossOff'] },
    { buffer: buffers.grads, extent: (e) => [e.sOff, e.sOff + e.tasks], offsets: [] },
  ]);
  // s_k sits at the same offset in the parameter and gradient buffers, and both ranges start at the same aligned element.
  const sOff = entry.sOff - bound.starts[0];
  return createDispatch(ctx, {
    kernel: 'uncertainty',
    name: `phase${entry.phase}`,
    source,
    descriptors: UNCERTAINTY_DESCRIPTOR.pack([{ ...bound.entries[0], sOff }]),
    bindings: [{ buffer: buffers.base }, bound.bindings[0], { buffer: buffers.effective }, bound.bindings[1], bound.bindings[2]],
    grid: [1, 1, 1],
  });
}
