/**
 * Streaming data sets: a file is read chunk by chunk, once to fit the encoder
 * (and count the rows of each split), then once per epoch, encoded chunk by
 * chunk and shuffled through a bounded buffer. Rows go to train, validation or
 * test by a hash of their file row and the seed, so no pass needs the whole file.
 */
import type { Batch } from '../trainer.js';
import { Rng } from '../rng.js';
import { gatherBatch, isStreamSplit, type Split, type StreamDataset, type StreamSplit } from './dataset.js';
import { prefetched, type RowChunk, type RowSource } from './rows.js';
import { TabularFitter, type TabularEncoder, type TabularSchema } from './tabular.js';

export type SplitName = 'train' | 'validation' | 'test';

/**
 * Which split file row `row` belongs to: u = a hash of (seed, row) in [0, 1);
 * validation when u < validation, test when u < validation + test, else train.
 */
export function splitOfRow(row: number, seed: number, fractions: { validation: number; test: number }): SplitName {
  // Two rounds of a 32-bit integer mix (the finaliser of murmur3) over row and seed.
  let h = Math.imul(row ^ Math.imul(seed, 0x9e3779b9), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = Math.imul(h ^ (h >>> 16) ^ (Math.floor(row / 2 ** 32) + seed), 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  const u = h / 2 ** 32;
  return u < fractions.validation ? 'validation' : u < fractions.validation + fractions.test ? 'test' : 'train';
}

/** The rows of chunk whose file row satisfies keep, as a chunk. */
export function filterChunk(chunk: RowChunk, keep: (fileRow: number) => boolean): RowChunk {
  const index: number[] = [];
  for (let i = 0; i < chunk.rows; i++) if (keep(chunk.firstRow + i)) index.push(i);
  if (index.length === chunk.rows) return chunk;
  return {
    rows: index.length,
    firstRow: chunk.firstRow,
    column: (name) => {
      const cells = chunk.column(name);
      return cells && index.map((i) => cells[i]);
    },
    where: (i) => chunk.where(index[i]),
  };
}

/** The rows of a source that keep selects, encoded chunk by chunk (the next chunk is read while one is encoded). */
export function encodedSplit(source: RowSource, encoder: TabularEncoder, rows: number, keep?: (fileRow: number) => boolean): StreamSplit {
  const withTables = encoder.embeddings.length > 0;
  return {
    rows,
    async *chunks() {
      for await (const raw of prefetched(source.chunks(encoder.columns))) {
        const chunk = keep ? filterChunk(raw, keep) : raw;
        if (chunk.rows === 0) continue;
        const d = encoder.transformChunk(chunk, source.name);
        yield { rows: d.rows, x: d.dense, labels: d.labels, mask: d.mask, categorical: withTables ? d.categorical : undefined };
      }
    },
  };
}

export interface StreamDatasetOptions {
  schema: TabularSchema;
  train: RowSource;
  /** When absent, the training file's rows are split into train/validation/test by splitOfRow. */
  test?: RowSource;
  /** Share of the training file held out for validation (default 0.1). */
  validationFraction?: number;
  seed?: number;
  /** An encoder fitted before (a resumed run's): used as it is instead of fitting one. */
  encoder?: TabularEncoder;
}

/** One streaming pass fits the encoder on the training rows (unless one is given) and counts every split; no split is held in memory. */
export async function streamDataset(o: StreamDatasetOptions): Promise<{ dataset: StreamDataset; encoder: TabularEncoder }> {
  const fractions = { validation: o.validationFraction ?? 0.1, test: o.test ? 0 : 0.2 };
  const seed = o.seed ?? 0;
  const splitOf = (row: number) => splitOfRow(row, seed, fractions);
  const fitter = new TabularFitter(o.schema, o.train);
  const counts = { train: 0, validation: 0, test: 0 };
  const columns = [...new Set([...o.schema.labels.map((l) => l.column), ...(o.schema.numeric ?? []).map((n) => n.column), ...(o.schema.categorical ?? []).map((c) => c.column)])];
  for await (const chunk of prefetched(o.train.chunks(columns))) {
    for (let i = 0; i < chunk.rows; i++) counts[splitOf(chunk.firstRow + i)]++;
    if (!o.encoder) fitter.add(filterChunk(chunk, (row) => splitOf(row) === 'train'));
  }
  const encoder = o.encoder ?? fitter.finish();
  let testRows = counts.test;
  if (o.test) {
    testRows = o.test.rows ?? 0;
    if (o.test.rows === undefined) for await (const c of o.test.chunks([encoder.columns[0]])) testRows += c.rows;
  }
  const part = (name: SplitName) => encodedSplit(o.train, encoder, counts[name], (row) => splitOf(row) === name);
  return {
    dataset: {
      name: o.test ? `${o.train.name} / ${o.test.name}` : o.train.name,
      tasks: encoder.tasks,
      inputDim: encoder.denseNames.length,
      embeddings: encoder.embeddings.length > 0 ? encoder.embeddings.map((e) => ({ name: e.column, vocabulary: e.vocabulary, dim: e.dim })) : undefined,
      train: part('train'),
      validation: counts.validation > 0 ? part('validation') : undefined,
      test: o.test ? (testRows > 0 ? encodedSplit(o.test, encoder, testRows) : undefined) : counts.test > 0 ? part('test') : undefined,
    },
    encoder,
  };
}

/** A permutation of 0..n-1 (Fisher-Yates) from a seed. */
export function shuffle(n: number, seed: number): Uint32Array {
  const rng = new Rng(seed);
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

export interface EpochOrder {
  /** Seed of this epoch's shuffle. */
  seed: number;
  /** false: the file's row order. */
  shuffle?: boolean;
  /** A streamed split shuffles through a buffer of this many rows (default 65536). */
  shuffleBuffer?: number;
}

/**
 * One epoch of batches of `batchSize` rows (the last may be short): every row once.
 * An in-memory split is shuffled whole; a streamed one through a buffer of
 * `shuffleBuffer` rows: once it is full, each incoming row takes the place of a
 * row drawn at random from it, which goes out; the rest leave in random order at the end.
 */
export async function* epochBatches(split: Split | StreamSplit, inputDim: number, tasks: number, batchSize: number, order: EpochOrder): AsyncGenerator<Batch> {
  const shuffled = order.shuffle ?? true;
  if (!isStreamSplit(split)) {
    const rows = shuffled ? shuffle(split.rows, order.seed) : Uint32Array.from({ length: split.rows }, (_, i) => i);
    for (let start = 0; start < split.rows; start += batchSize) yield gatherBatch(split, inputDim, tasks, rows, start, Math.min(batchSize, split.rows - start));
    return;
  }
  const capacity = shuffled ? (order.shuffleBuffer ?? 65536) : 0;
  const rng = new Rng(order.seed);
  let buffer: RowStore | undefined;
  let batch: RowStore | undefined;
  let tables = 0; // embedding columns, from the first chunk
  const take = (from: Split | RowStore, r: number): Batch | undefined => {
    batch ??= new RowStore(batchSize, inputDim, tasks, tables);
    batch.put(batch.rows++, from, r);
    if (batch.rows < batchSize) return undefined;
    const full = batch.asBatch();
    batch = undefined;
    return full;
  };
  for await (const chunk of split.chunks()) {
    tables = chunk.categorical ? chunk.categorical.length / chunk.rows : 0;
    for (let r = 0; r < chunk.rows; r++) {
      let out: Batch | undefined;
      if (capacity === 0) {
        out = take(chunk, r);
      } else {
        buffer ??= new RowStore(capacity, inputDim, tasks, tables);
        if (buffer.rows < capacity) {
          buffer.put(buffer.rows++, chunk, r);
        } else {
          const j = Math.floor(rng.uniform() * capacity);
          out = take(buffer, j);
          buffer.put(j, chunk, r);
        }
      }
      if (out) yield out;
    }
  }
  if (buffer) {
    const rest = buffer.rows;
    const left = shuffle(rest, order.seed + 0x5bd1e995);
    for (let i = 0; i < rest; i++) {
      const out = take(buffer, left[i]);
      if (out) yield out;
    }
  }
  if (batch && batch.rows > 0) yield batch.asBatch();
}

/** A fixed number of encoded rows (the shuffle buffer, a batch being filled). */
class RowStore {
  rows = 0;
  readonly x: Float32Array;
  readonly labels: Float32Array;
  readonly mask: Float32Array;
  readonly categorical?: Int32Array;

  constructor(
    readonly capacity: number,
    private readonly inputDim: number,
    private readonly tasks: number,
    private readonly tables: number,
  ) {
    this.x = new Float32Array(capacity * inputDim);
    this.labels = new Float32Array(capacity * tasks);
    this.mask = new Float32Array(capacity * tasks);
    if (tables > 0) this.categorical = new Int32Array(capacity * tables);
  }

  /** Copies row r of from into slot i. */
  put(i: number, from: Split | RowStore, r: number): void {
    const { inputDim: D, tasks: K, tables: T } = this;
    this.x.set(from.x.subarray(r * D, (r + 1) * D), i * D);
    this.labels.set(from.labels.subarray(r * K, (r + 1) * K), i * K);
    this.mask.set(from.mask.subarray(r * K, (r + 1) * K), i * K);
    if (T > 0) this.categorical!.set(from.categorical!.subarray(r * T, (r + 1) * T), i * T);
  }

  asBatch(): Batch {
    const n = this.rows;
    const { inputDim: D, tasks: K, tables: T } = this;
    return {
      rows: n,
      x: this.x.subarray(0, n * D),
      labels: this.labels.subarray(0, n * K),
      mask: this.mask.subarray(0, n * K),
      categorical: T > 0 ? this.categorical!.subarray(0, n * T) : undefined,
    };
  }
}
