/**
 * Host side of shaders/task_loss.wgsl: masked, weighted task losses and logit gradients.
 * CPU reference: src/reference/task_loss.ts. Test: test/task_loss.test.ts.
 */
import source from '../../shaders/task_loss.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import type { TaskType } from '../config.js';
import { bindRanges, createDispatch, type Dispatch } from './dispatch.js';
import { struct } from './struct.js';
import { withLanes, type ReductionPath } from './lanes.js';
import { kernelShapesFor } from './shapes.js';

export interface TaskLossEntry {
  type: TaskType;
  rows: number;
  /** Index of the task: its weight in the weights buffer, its pair in the output. */
  task: number;
  logitOff: number;
  /** Labels and the 0/1 mask live in the same buffer. */
  labelOff: number;
  labelRow: number;
  maskOff: number;
  maskRow: number;
  /** Where the logit gradient goes (rows, contiguous). */
  dOff: number;
  /** out[outOff + 2 task] = mean loss, out[outOff + 2 task + 1] = labelled count. */
  outOff: number;
}

export interface TaskLossBuffers {
  /** One f32 weight per task. */
  weights: GPUBuffer;
  logits: GPUBuffer;
  labels: GPUBuffer;
  dLogits: GPUBuffer;
  out: GPUBuffer;
}

export const TASK_LOSS_DESCRIPTOR = struct('TaskLoss', {
  kind: 'u32', rows: 'u32', task: 'u32', logitOff: 'u32',
  labelOff: 'u32', labelRow: 'u32', maskOff: 'u32', maskRow: 'u32',
  dOff: 'u32', outOff: 'u32',
});

/**
 * `path`: the workgroup's sums through workgroup memory (plain) or subgroups first (see lanes.ts).
 * `wg`: the workgroup size (default kernelShapesFor(ctx.adapter).taskLossWorkgroup).
 */
export function taskLossDispatch(ctx: GpuContext, label: string, entries: readonly TaskLossEntry[], buffers: TaskLossBuffers, path: ReductionPath = 'plain', wg = kernelShapesFor(ctx.adapter).taskLossWorkgroup): Promise<Dispatch> {
  const lanes = withLanes(ctx, 'task_loss', path, source, wg);
  const bound = bindRanges(ctx, label, entries, [
    { buffer: buffers.logits, extent: (e) => [e.logitOff, e.logitOff + e.rows], offsets: ['logitOff'] },
    {
      buffer: buffers.labels,
      extent: (e) => [
        Math.min(e.labelOff, e.maskOff),
        Math.max(e.labelOff + (e.rows - 1) * e.labelRow, e.maskOff + (e.rows - 1) * e.maskRow) + 1,
      ],
      offsets: ['labelOff', 'maskOff'],
    },
    { buffer: buffers.dLogits, extent: (e) => [e.dOff, e.dOff + e.rows], offsets: ['dOff'] },
    { buffer: buffers.out, extent: (e) => [e.outOff + 2 * e.task, e.outOff + 2 * e.task + 2], offsets: ['outOff'] },
  ]);
  const packed = bound.entries.map((e) => ({ ...e, kind: e.type === 'binary' ? 0 : 1 }));
  return createDispatch(ctx, {
    kernel: 'task_loss',
    path,
    name: label,
    source: lanes.source,
    constants: { WG: lanes.wg },
    descriptors: TASK_LOSS_DESCRIPTOR.pack(packed),
    bindings: [{ buffer: buffers.weights }, ...bound.bindings],
    grid: [entries.length, 1, 1],
  });
}
