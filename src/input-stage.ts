/**
 * A batch into the input arena (x, labels, mask and, with embedding tables, the indices and their
 * CSR): validated, padded to the batch capacity with masked rows. Both devices stage through this:
 * the GPU plan into its upload buffer, the CPU plan straight into its heap.
 */
import type { ArenaLayout } from './arena.js';
import type { ModelSpec } from './spec.js';
import { BatchError, type Batch } from './data/batch.js';
import { csrWords, writeCsr } from './kernels/embedding.js';

/**
 * Writes `batch` into `stage` (the input arena's floats; `words` is the same memory as u32) for a
 * plan of B rows. Throws BatchError naming the field, row and column of bad input. `stagedFinite`,
 * if given, checks floats of the stage (from its index, count of them) for values that are not
 * finite, faster than a loop here over the batch's x (the CPU device checks in WebAssembly).
 */
export function stageBatch(
  spec: ModelSpec,
  input: ArenaLayout,
  B: number,
  batch: Batch,
  stage: Float32Array,
  words: Uint32Array,
  stagedFinite?: (from: number, count: number) => boolean,
): void {
  const { rows } = batch;
  const K = spec.numTasks;
  const din = spec.inputDim;
  if (!Number.isInteger(rows) || rows < 1 || rows > B) throw new BatchError(`batch.rows must be an integer in [1, ${B}] (the batch size), got ${rows}`);
  if (batch.x.length !== rows * din) throw new BatchError(`batch.x has ${batch.x.length} values, expected rows (${rows}) x inputDim (${din}) = ${rows * din}`);
  if (batch.labels.length !== rows * K) throw new BatchError(`batch.labels has ${batch.labels.length} values, expected rows (${rows}) x tasks (${K}) = ${rows * K}`);
  if (batch.mask && batch.mask.length !== rows * K) throw new BatchError(`batch.mask has ${batch.mask.length} values, expected rows (${rows}) x tasks (${K}) = ${rows * K}`);
  // Only what the batch leaves unwritten is cleared (the padding rows; x's columns past inputDim):
  // filling a shared heap's view costs about 1 ns a float, as much as the copy.
  const clearFrom = (name: string, written: number) => {
    const region = input.get(name);
    stage.fill(0, region.offset + written, region.offset + region.size);
  };
  const xOff = input.get('x').offset;
  const width = spec.modelInputDim;
  const x = batch.x;
  clearFrom('x', width === din ? rows * din : 0);
  clearFrom('labels', rows * K);
  clearFrom('mask', rows * K);
  if (width === din && x instanceof Float32Array) {
    // One copy, then a check.
    stage.set(x, xOff);
    if (!(stagedFinite ? stagedFinite(xOff, rows * din) : allFinite(x))) throwNonFinite(x, rows, din);
  } else {
    for (let r = 0; r < rows; r++) {
      const from = r * din;
      const to = xOff + r * width;
      for (let j = 0; j < din; j++) {
        const v = x[from + j];
        if (!Number.isFinite(v)) throwNonFinite(x, rows, din);
        stage[to + j] = v;
      }
    }
  }
  const lOff = input.get('labels').offset;
  const mOff = input.get('mask').offset;
  for (let i = 0; i < rows * K; i++) {
    const m = batch.mask ? batch.mask[i] : 1;
    if (m !== 0 && m !== 1) throw new BatchError(`batch.mask row ${Math.floor(i / K)} task ${i % K} is ${m}; it must be 0 or 1`);
    const y = batch.labels[i];
    if (m === 1 && !Number.isFinite(y)) {
      throw new BatchError(`batch.labels row ${Math.floor(i / K)} task "${spec.config.tasks[i % K].name}" is ${y} but its mask is 1; mask missing labels with 0`);
    }
    stage[lOff + i] = m === 1 ? y : 0;
    stage[mOff + i] = m;
  }
  const tables = spec.embeddings;
  if (tables.length > 0) {
    const T = tables.length;
    const cat = batch.categorical;
    if (!cat || cat.length !== rows * T) {
      throw new BatchError(`batch.categorical has ${cat?.length ?? 0} values, expected rows (${rows}) x embedding tables (${T}) = ${rows * T}`);
    }
    clearFrom('indices', rows * T);
    const iOff = input.get('indices').offset;
    for (let i = 0; i < rows * T; i++) {
      const v = cat[i];
      const e = tables[i % T];
      if (!Number.isInteger(v) || v < 0 || v >= e.vocabulary) {
        throw new BatchError(`batch.categorical row ${Math.floor(i / T)} table "${e.name}" is ${v}; it must be an integer in [0, ${e.vocabulary})`);
      }
      words[iOff + i] = v;
    }
    const csrOff = input.get('csr').offset;
    tables.forEach((_, t) => writeCsr(words, csrOff + t * csrWords(B), B, (r) => cat[r * T + t], rows));
  }
}

/**
 * Whether every value is finite: v * 0 is 0 for a finite v and NaN otherwise, summed in four
 * independent chains so that each add need not wait for the one before. A function of its own, so
 * it is optimized for Float32Arrays alone (inlined in stageBatch, the loop sometimes ran 6x slower).
 */
function allFinite(x: Float32Array): boolean {
  const n = x.length;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i] * 0;
    s1 += x[i + 1] * 0;
    s2 += x[i + 2] * 0;
    s3 += x[i + 3] * 0;
  }
  for (; i < n; i++) s0 += x[i] * 0;
  return s0 + s1 + s2 + s3 === 0;
}

/** Throws BatchError naming the first value of x that is not finite. */
function throwNonFinite(x: ArrayLike<number>, rows: number, din: number): never {
  for (let i = 0; i < rows * din; i++) {
    if (!Number.isFinite(x[i])) throw new BatchError(`batch.x row ${Math.floor(i / din)} column ${i % din} is ${x[i]}; inputs must be finite`);
  }
  throw new Error('throwNonFinite found no value that is not finite');
}
