/** The MMoE synthetic benchmark: determinism, input statistics, task relatedness, binary labels, validation. */
import { describe, expect, it } from 'vitest';
import { SyntheticTasks, type SyntheticOptions } from '../src/data/synthetic.js';

const base: SyntheticOptions = { inputDim: 16, correlation: 0.5, seed: 7 };

function column(labels: Float32Array, task: number): Float64Array {
  return Float64Array.from({ length: labels.length / 2 }, (_, r) => labels[r * 2 + task]);
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

function variance(a: ArrayLike<number>): number {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - m) ** 2;
  return s / a.length;
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ma = mean(a);
  const mb = mean(b);
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

function labelCorrelation(o: SyntheticOptions, rows = 20000): number {
  const { labels } = new SyntheticTasks(o).batch('train', 0, rows);
  return pearson(column(labels, 0), column(labels, 1));
}

describe('SyntheticTasks', () => {
  it('names two tasks, regression by default and binary on request', () => {
    expect(new SyntheticTasks(base).tasks).toEqual([
      { name: 'task1', type: 'regression' },
      { name: 'task2', type: 'regression' },
    ]);
    expect(new SyntheticTasks({ ...base, binary: true }).tasks.map((t) => t.type)).toEqual(['binary', 'binary']);
  });

  it('is deterministic in (seed, split, index) and batches can be made in any order', () => {
    const a = new SyntheticTasks(base);
    const first = a.batch('train', 3, 50);
    a.batch('test', 0, 10); // making other batches in between changes nothing
    const again = new SyntheticTasks(base).batch('train', 3, 50);
    expect(again.rows).toBe(50);
    expect(again.x).toEqual(first.x);
    expect(again.labels).toEqual(first.labels);
    expect(first.x.length).toBe(50 * 16);
    expect(first.labels.length).toBe(50 * 2);

    const others = [a.batch('train', 4, 50), a.batch('validation', 3, 50), a.batch('test', 3, 50), new SyntheticTasks({ ...base, seed: 8 }).batch('train', 3, 50)];
    for (const o of others) {
      expect(o.x).not.toEqual(first.x);
      expect(o.labels).not.toEqual(first.labels);
    }
  });

  it('draws x with mean 0 and variance 1', () => {
    const { x } = new SyntheticTasks(base).batch('train', 0, 4000);
    // 64000 entries: standard errors 0.004 (mean) and 0.006 (variance).
    expect(Math.abs(mean(x))).toBeLessThan(0.02);
    expect(Math.abs(variance(x) - 1)).toBeLessThan(0.03);
  });

  it('builds weight vectors of norm c with w1·w2 = c^2 p', () => {
    for (const [correlation, scale] of [[0.5, 1], [-0.3, 2], [1, 1.5], [-1, 1], [0, 3]]) {
      const t = new SyntheticTasks({ ...base, correlation, scale });
      let w11 = 0;
      let w22 = 0;
      let w12 = 0;
      for (let j = 0; j < 16; j++) {
        w11 += t.w1[j] * t.w1[j];
        w22 += t.w2[j] * t.w2[j];
        w12 += t.w1[j] * t.w2[j];
      }
      expect(w11).toBeCloseTo(scale * scale, 12);
      expect(w22).toBeCloseTo(scale * scale, 12);
      expect(w12).toBeCloseTo(scale * scale * correlation, 12);
    }
  });

  it('relates the tasks more as p grows', () => {
    // Label correlation is corr(g(z1), g(z2)) + noise, with g(z) = z + sum sin(alpha z + beta) and corr(z1, z2) = p.
    // By Mehler's expansion cov = sum_k a_k^2 p^k / k! (a_k: g's Hermite coefficients), so it
    // increases on p >= 0 and cov(p) - cov(-p) = 2 sum_{odd k} a_k^2 p^k / k! > 0. It is NOT always
    // monotone on p < 0 (the even terms raise cov at p = -0.5 above 0 for ~1 seed in 7), so for
    // p = -0.5 we assert only that it is below p = +0.5.
    for (const seed of [1, 2, 3, 4]) {
      const [minusHalf, zero, half, ninety, one] = [-0.5, 0, 0.5, 0.9, 1].map((correlation) => labelCorrelation({ ...base, seed, correlation }));
      expect(Math.abs(zero)).toBeLessThan(0.03); // independent tasks: 0 within sampling error (sd ~0.007)
      expect(half).toBeGreaterThan(zero);
      expect(ninety).toBeGreaterThan(half);
      expect(one).toBeGreaterThan(ninety);
      expect(minusHalf).toBeLessThan(half);
      // At p = 1 the tasks differ only by noise; the correlation is Var(g) / (Var(g) + 0.01), high while
      // the signal dwarfs the noise (it is for these seeds; over 300 seeds the lowest seen was 0.89).
      expect(one).toBeGreaterThan(0.95);
    }
  });

  it('at p = 1 the tasks differ only by their noise', () => {
    const noisy = new SyntheticTasks({ ...base, correlation: 1 }).batch('train', 0, 20000).labels;
    const diff = Float64Array.from({ length: 20000 }, (_, r) => noisy[r * 2] - noisy[r * 2 + 1]);
    // y1 - y2 = eps1 - eps2 ~ N(0, 2 · 0.01); the sample variance has standard error ~0.0002.
    expect(Math.abs(mean(diff))).toBeLessThan(0.005);
    expect(variance(diff)).toBeCloseTo(0.02, 3);

    const clean = new SyntheticTasks({ ...base, correlation: 1, noiseStd: 0 }).batch('train', 0, 100).labels;
    expect(column(clean, 0)).toEqual(column(clean, 1));
  });

  it('binary labels are 0/1, thresholded at the median so each task is ~half positive', () => {
    for (const seed of [1, 2, 3]) {
      const t = new SyntheticTasks({ ...base, seed, binary: true });
      expect(Number.isFinite(t.threshold)).toBe(true);
      const { labels } = t.batch('test', 0, 20000);
      expect(labels.every((v) => v === 0 || v === 1)).toBe(true);
      // Positive rate standard error over 20000 rows is 0.0035 (plus ~0.0014 from the median estimate).
      for (const task of [0, 1]) expect(Math.abs(mean(column(labels, task)) - 0.5)).toBeLessThan(0.02);
      // The binary labels are the regression labels thresholded: same rows, same draws.
      const y = new SyntheticTasks({ ...base, seed }).batch('test', 0, 20000).labels;
      expect(labels.every((v, i) => v === Number(y[i] > t.threshold!))).toBe(true);
    }
    expect(new SyntheticTasks(base).threshold).toBeUndefined();
  });

  it('rejects bad options and batch arguments with a RangeError naming them', () => {
    const bad: [Partial<SyntheticOptions>, RegExp][] = [
      [{ correlation: 1.5 }, /correlation/],
      [{ correlation: NaN }, /correlation/],
      [{ inputDim: 1 }, /inputDim/],
      [{ inputDim: 2.5 }, /inputDim/],
      [{ sineTerms: -1 }, /sineTerms/],
      [{ noiseStd: -0.1 }, /noiseStd/],
      [{ seed: 0.5 }, /seed/],
    ];
    for (const [change, message] of bad) {
      expect(() => new SyntheticTasks({ ...base, ...change })).toThrow(RangeError);
      expect(() => new SyntheticTasks({ ...base, ...change })).toThrow(message);
    }
    const t = new SyntheticTasks(base);
    expect(() => t.batch('train', -1, 10)).toThrow(/index/);
    expect(() => t.batch('train', 0, 0)).toThrow(/rows/);
    expect(() => t.batch('toString' as 'train', 0, 10)).toThrow(/split/);
  });
});
