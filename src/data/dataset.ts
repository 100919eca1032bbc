/**
 * An in-memory data set: what training and evaluation read, whatever the
 * source (the synthetic benchmark, CSV files). Rows are row-major.
 */
import type { TaskType } from '../config.js';
import type { Batch } from './batch.js';

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
  /** rows x embedding tables: the table row of each categorical input (when the data set has embeddings). */
  categorical?: Int32Array;
}

export interface Dataset {
  name: string;
  tasks: TaskInfo[];
  /** Dense input width. */
  inputDim: number;
  /** Categorical inputs meant for embedding tables, in the column order of Split.categorical. */
  embeddings?: { name: string; vocabulary: number; dim: number }[];
  train: Split;
  validation?: Split;
  test?: Split;
}

/** Rows `order[start .. start+count)` of a split as a batch. */
export function gatherBatch(split: Split, inputDim: number, tasks: number, order: ArrayLike<number>, start: number, count: number): Batch {
  const x = new Float32Array(count * inputDim);
  const labels = new Float32Array(count * tasks);
  const mask = new Float32Array(count * tasks);
  const T = split.categorical ? split.categorical.length / split.rows : 0;
  const categorical = split.categorical ? new Int32Array(count * T) : undefined;
  for (let i = 0; i < count; i++) {
    const r = order[start + i];
    x.set(split.x.subarray(r * inputDim, (r + 1) * inputDim), i * inputDim);
    labels.set(split.labels.subarray(r * tasks, (r + 1) * tasks), i * tasks);
    mask.set(split.mask.subarray(r * tasks, (r + 1) * tasks), i * tasks);
    categorical?.set(split.categorical!.subarray(r * T, (r + 1) * T), i * T);
  }
  return { rows: count, x, labels, mask, categorical };
}

/** Fills a split's mask with 1 where a label is present (not NaN). */
export function maskFromLabels(labels: Float32Array): Float32Array {
  return Float32Array.from(labels, (y) => (Number.isNaN(y) ? 0 : 1));
}
