/**
 * An in-memory data set: what training and evaluation read, whatever the
 * source (the synthetic benchmark, CSV files). Rows are row-major.
 */
import type { TaskType } from '../config.js';
import type { Batch } from '../trainer.js';

export interface TaskInfo {
  name: string;
  type: TaskType;
}

export interface Split {
  rows: number;
  /** rows x inputDim. */
  x: Float32Array;
  /** rows x tasks; NaN where missing. */
  labels: Float32Array;
  /** rows x tasks of 0/1. */
  mask: Float32Array;
}

export interface Dataset {
  name: string;
  tasks: TaskInfo[];
  inputDim: number;
  train: Split;
  validation?: Split;
  test?: Split;
}

/** Rows `order[start .. start+count)` of a split as a batch. */
export function gatherBatch(split: Split, inputDim: number, tasks: number, order: ArrayLike<number>, start: number, count: number): Batch {
  const x = new Float32Array(count * inputDim);
  const labels = new Float32Array(count * tasks);
  const mask = new Float32Array(count * tasks);
  for (let i = 0; i < count; i++) {
    const r = order[start + i];
    x.set(split.x.subarray(r * inputDim, (r + 1) * inputDim), i * inputDim);
    labels.set(split.labels.subarray(r * tasks, (r + 1) * tasks), i * tasks);
    mask.set(split.mask.subarray(r * tasks, (r + 1) * tasks), i * tasks);
  }
  return { rows: count, x, labels, mask };
}

/** Fills a split's mask with 1 where a label is present (not NaN). */
export function maskFromLabels(labels: Float32Array): Float32Array {
  return Float32Array.from(labels, (y) => (Number.isNaN(y) ? 0 : 1));
}
