/**
 * The synthetic two-task benchmark of the MMoE paper (Ma et al., KDD 2018,
 * §3.2), which PLE (Tang et al., RecSys 2020) reuses: the tasks' relatedness
 * is set by a correlation score p.
 *
 *   u1, u2    orthogonal unit vectors in R^d (Gram–Schmidt on Gaussian vectors)
 *   w1 = c u1,   w2 = c (p u1 + sqrt(1 - p^2) u2)      so w1·w2 = c^2 p
 *   x         N(0, I_d)
 *   y_t = w_t·x + sum_{i=1..m} sin(alpha_i w_t·x + beta_i) + eps_t,   eps_t ~ N(0, 0.01)
 *
 * alpha_i, beta_i ~ N(0, 1) are drawn once per seed and shared by both tasks.
 * Rows are generated on the fly; batch (split, index) always gives the same rows.
 */
import type { TaskType } from '../config.js';
import { Rng } from '../rng.js';

/** Which split's rows a {@link SyntheticTasks} batch draws (each split its own random stream). */
export type SyntheticSplit = 'train' | 'validation' | 'test';

/** Options of {@link SyntheticTasks}. */
export interface SyntheticOptions {
  /** Width d of an input row (integer >= 2). */
  inputDim: number;
  /** Correlation score p in [-1, 1]: the cosine between w1 and w2. */
  correlation: number;
  /** Sine terms m (default 10). */
  sineTerms?: number;
  /** Norm c of w1 and w2 (default 1). */
  scale?: number;
  /** Standard deviation of the label noise (default 0.1, i.e. variance 0.01). */
  noiseStd?: number;
  /** Seeds are taken modulo 2^32, as by `Rng`. */
  seed: number;
  /**
   * Turn both tasks into binary classification: label 1 when y_t is above the
   * median of its distribution, so each task's positive rate is 1/2. (The
   * tasks are not symmetric about 0 — the beta_i shift the sine terms — so a
   * threshold of 0 can give positive rates anywhere from ~1% to ~99%.)
   */
  binary?: boolean;
}

/** Rows of the synthetic benchmark ({@link SyntheticTasks.batch}). */
export interface SyntheticBatch {
  rows: number;
  /** rows x inputDim, row-major. */
  x: Float32Array;
  /** rows x 2, row-major: (task1, task2). */
  labels: Float32Array;
}

const SPLIT_STREAM: Record<SyntheticSplit, number> = { train: 0, validation: 1, test: 2 };
/** Stream 3 holds the seed's fixed draws: index 0 the parameters, index 1 the median sample. */
const FIXED_STREAM = 3;
const STREAMS = 4;
/** Batch indices must keep index * STREAMS + stream within 32 bits, so every batch gets its own RNG seed. */
const MAX_BATCH_INDEX = 2 ** 30 - 1;
/** Draws used to estimate the median of y_t in binary mode (standard error of the positive rate ~0.0014). */
const MEDIAN_SAMPLES = 1 << 17;

/**
 * The MMoE paper's synthetic two-task benchmark: two regression (or, with `binary`, 0/1) tasks whose
 * relatedness is the correlation score p. Rows are generated on demand and repeatable from the seed.
 * @throws RangeError naming the option (inputDim, correlation, seed, ...) that is out of range.
 */
export class SyntheticTasks {
  readonly tasks: { name: string; type: TaskType }[];
  readonly inputDim: number;
  readonly correlation: number;
  /** Task weight vectors, length inputDim, each of norm `scale`; w1·w2 = scale^2 · correlation. */
  readonly w1: Float64Array;
  readonly w2: Float64Array;
  /** The sine terms' frequencies and phases, shared by both tasks. */
  readonly alpha: Float64Array;
  readonly beta: Float64Array;
  readonly noiseStd: number;
  /**
   * Binary mode: the (estimated) median of y_t, above which a label is 1.
   * Both tasks share it: w_t·x ~ N(0, scale^2) for either task, so y1 and y2
   * have the same marginal distribution. Undefined in regression mode.
   */
  readonly threshold: number | undefined;
  private readonly seedHash: number;

  constructor(o: SyntheticOptions) {
    const sineTerms = o.sineTerms ?? 10;
    const scale = o.scale ?? 1;
    const noiseStd = o.noiseStd ?? 0.1;
    if (!Number.isInteger(o.inputDim) || o.inputDim < 2) throw new RangeError(`inputDim must be an integer >= 2, got ${o.inputDim}`);
    if (!(o.correlation >= -1 && o.correlation <= 1)) throw new RangeError(`correlation must be in [-1, 1], got ${o.correlation}`);
    if (!Number.isInteger(sineTerms) || sineTerms < 0) throw new RangeError(`sineTerms must be an integer >= 0, got ${sineTerms}`);
    if (!Number.isFinite(scale)) throw new RangeError(`scale must be a finite number, got ${scale}`);
    if (!(noiseStd >= 0 && Number.isFinite(noiseStd))) throw new RangeError(`noiseStd must be a finite number >= 0, got ${noiseStd}`);
    if (!Number.isInteger(o.seed)) throw new RangeError(`seed must be an integer, got ${o.seed}`);

    this.inputDim = o.inputDim;
    this.correlation = o.correlation;
    this.noiseStd = noiseStd;
    this.seedHash = mix32(o.seed >>> 0);
    const type: TaskType = o.binary ? 'binary' : 'regression';
    this.tasks = [
      { name: 'task1', type },
      { name: 'task2', type },
    ];

    // The draws do not depend on p, so one seed gives the same u1, u2, alpha,
    // beta (and x) at every correlation: only w2 moves.
    const rng = this.stream(FIXED_STREAM, 0);
    const u1 = randomUnitVector(rng, o.inputDim);
    const u2 = randomUnitVector(rng, o.inputDim, u1);
    this.alpha = Float64Array.from({ length: sineTerms }, () => rng.normal());
    this.beta = Float64Array.from({ length: sineTerms }, () => rng.normal());
    const p = o.correlation;
    const q = Math.sqrt(1 - p * p);
    this.w1 = u1.map((v) => scale * v);
    this.w2 = u1.map((v, j) => scale * (p * v + q * u2[j]));

    this.threshold = o.binary ? this.estimateMedian(Math.abs(scale)) : undefined;
  }

  /**
   * Batch `index` of `split`: `rows` rows drawn from the RNG of (seed, split,
   * index), so batches can be made in any order. Different indices are
   * independent draws; the same index with more rows extends the shorter batch.
   */
  batch(split: SyntheticSplit, index: number, rows: number): SyntheticBatch {
    if (!Object.hasOwn(SPLIT_STREAM, split)) throw new RangeError(`split must be "train", "validation" or "test", got ${String(split)}`);
    if (!Number.isInteger(index) || index < 0 || index > MAX_BATCH_INDEX) throw new RangeError(`index must be an integer in [0, ${MAX_BATCH_INDEX}], got ${index}`);
    if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`rows must be an integer >= 1, got ${rows}`);

    const rng = this.stream(SPLIT_STREAM[split], index);
    const d = this.inputDim;
    const x = new Float32Array(rows * d);
    const labels = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      let z1 = 0;
      let z2 = 0;
      for (let j = 0; j < d; j++) {
        x[r * d + j] = rng.normal();
        // Use the stored float32 value, so labels are an exact function of the x the model sees.
        z1 += this.w1[j] * x[r * d + j];
        z2 += this.w2[j] * x[r * d + j];
      }
      const y1 = this.response(z1) + this.noiseStd * rng.normal();
      const y2 = this.response(z2) + this.noiseStd * rng.normal();
      labels[r * 2] = this.threshold === undefined ? y1 : Number(y1 > this.threshold);
      labels[r * 2 + 1] = this.threshold === undefined ? y2 : Number(y2 > this.threshold);
    }
    return { rows, x, labels };
  }

  /** The noiseless label as a function of z = w_t·x. */
  private response(z: number): number {
    let y = z;
    for (let i = 0; i < this.alpha.length; i++) y += Math.sin(this.alpha[i] * z + this.beta[i]);
    return y;
  }

  /** Median of y = response(z) + noise with z ~ N(0, scale^2), from a fixed sample. */
  private estimateMedian(scale: number): number {
    const rng = this.stream(FIXED_STREAM, 1);
    const ys = new Float64Array(MEDIAN_SAMPLES);
    for (let i = 0; i < ys.length; i++) ys[i] = this.response(scale * rng.normal()) + this.noiseStd * rng.normal();
    ys.sort();
    return (ys[ys.length / 2 - 1] + ys[ys.length / 2]) / 2;
  }

  /** An RNG for (seed, stream, index); distinct (stream, index) give distinct RNG seeds. */
  private stream(stream: number, index: number): Rng {
    // index * STREAMS + stream is injective below 2^32, and adding a constant then mix32 are bijections on 32 bits.
    return new Rng(mix32((this.seedHash + index * STREAMS + stream) >>> 0));
  }
}

/** A unit vector from N(0, I), made orthogonal to `against` first (one Gram–Schmidt step) when given. */
function randomUnitVector(rng: Rng, d: number, against?: Float64Array): Float64Array {
  for (;;) {
    const v = Float64Array.from({ length: d }, () => rng.normal());
    if (against) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += v[j] * against[j];
      for (let j = 0; j < d; j++) v[j] -= dot * against[j];
    }
    let norm = 0;
    for (let j = 0; j < d; j++) norm += v[j] * v[j];
    norm = Math.sqrt(norm);
    // A (near-)degenerate draw has probability ~0; redraw rather than divide by ~0.
    if (norm > 1e-6) return v.map((e) => e / norm);
  }
}

/** The murmur3 32-bit finaliser: a bijection on 32-bit integers that scrambles all bits. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
