/**
 * An in-memory data set: what training and evaluation read, whatever the
 * source (the synthetic benchmark, CSV files). Rows are row-major.
 */
import type { TaskType } from '../config.js';
import type { Batch } from './batch.js';

/** A task of a data set: its name and whether its labels are binary (0/1) or real values. */
export interface TaskInfo {
  name: string;
  type: TaskType;
}

/** One split (train, validation or test) of a data set, row-major. */
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

/**
 * A split read from a file chunk by chunk: `chunks()` is one pass over its rows,
 * encoded; the host never holds more than a chunk of it.
 */
export interface StreamSplit {
  rows: number;
  chunks(): AsyncIterable<Split>;
}

export function isStreamSplit(split: Split | StreamSplit): split is StreamSplit {
  return 'chunks' in split;
}

/** The rows of a split as chunks: a stream's own, or an in-memory split as one chunk. */
export function chunksOf(split: Split | StreamSplit): AsyncIterable<Split> {
  if (isStreamSplit(split)) return split.chunks();
  return (async function* () {
    yield split;
  })();
}

/** A split with f applied to its rows: to the split itself, or to every chunk of a stream. */
export function mapChunks<S extends Split | StreamSplit>(split: S, f: (s: Split) => Split): S {
  if (!isStreamSplit(split)) return f(split) as S;
  const stream = split;
  return {
    rows: stream.rows,
    async *chunks() {
      for await (const c of stream.chunks()) yield f(c);
    },
  } as unknown as S;
}

/** An in-memory data set: what {@link fit} and {@link evaluate} read, whatever its source. */
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

/** A data set whose splits are streamed from files (see src/data/stream.ts). */
export interface StreamDataset extends Omit<Dataset, 'train' | 'validation' | 'test'> {
  train: StreamSplit;
  validation?: StreamSplit;
  test?: StreamSplit;
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
