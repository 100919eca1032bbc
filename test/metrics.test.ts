/** Host metrics against hand-computed values, AUC against a brute-force pair count, and the expected AUC against a pair sum and label draws. */
import { describe, expect, it } from 'vitest';
import { auc, expectedAuc, gateStatistics, logLoss, mse, taskMetrics } from '../src/metrics.js';
import { Rng } from '../src/rng.js';

/** The definition of AUC: the fraction of (positive, negative) pairs the scores order correctly, ties 1/2. O(n^2). */
function bruteForceAuc(scores: ArrayLike<number>, labels: ArrayLike<number>, mask?: ArrayLike<number>): number {
  let credit = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if ((mask && mask[i] === 0) || labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if ((mask && mask[j] === 0) || labels[j] !== 0) continue;
      pairs++;
      if (scores[i] > scores[j]) credit += 1;
      else if (scores[i] === scores[j]) credit += 0.5;
    }
  }
  return pairs === 0 ? NaN : credit / pairs;
}

describe('auc', () => {
  it('matches a hand count with tied scores', () => {
    // Negatives: 0.1, 0.4. Positives: 0.35, 0.8, 0.4. The 3 x 2 = 6 pairs (pos vs neg):
    //   0.35 > 0.1: 1    0.35 < 0.4: 0
    //   0.8  > 0.1: 1    0.8  > 0.4: 1
    //   0.4  > 0.1: 1    0.4 == 0.4: 1/2
    // AUC = 4.5 / 6 = 0.75. (Ranks: 0.1→1, 0.35→2, 0.4,0.4→3.5, 0.8→5; positives 2+3.5+5 = 10.5; (10.5 - 3·4/2) / 6 = 0.75.)
    expect(auc([0.1, 0.4, 0.35, 0.8, 0.4], [0, 0, 1, 1, 1])).toBe(0.75);
  });

  it('is 0.5 when every score is tied, 1 when perfect, 0 when inverted', () => {
    expect(auc([0.3, 0.3, 0.3, 0.3], [0, 1, 1, 0])).toBe(0.5);
    expect(auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
  });

  it('ignores masked samples, whatever their scores and labels', () => {
    // The hand-counted case above plus two samples that would change it if counted.
    const scores = [0.1, 0.4, 0.35, 0.99, 0.8, 0.4, 0.0];
    const labels = [0, 0, 1, 0, 1, 1, 1];
    const mask = [1, 1, 1, 0, 1, 1, 0];
    expect(auc(scores, labels, mask)).toBe(0.75);
    expect(auc(scores, [0, 0, 1, NaN, 1, 1, NaN], mask)).toBe(0.75);
  });

  it('is NaN when a class is absent or a counted score is NaN', () => {
    expect(auc([0.1, 0.5, 0.9], [1, 1, 1])).toBeNaN();
    expect(auc([0.1, 0.5, 0.9], [0, 0, 0])).toBeNaN();
    expect(auc([0.1, 0.5, 0.9], [0, 1, 1], [1, 0, 0])).toBeNaN();
    expect(auc([], [])).toBeNaN();
    expect(auc([0.1, NaN, 0.9], [0, 1, 1])).toBeNaN();
    expect(auc([0.1, NaN, 0.9], [0, 1, 1], [1, 0, 1])).toBe(1);
  });

  it('matches a brute-force pair count on random data with many ties', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rng = new Rng(seed);
      const n = rng.int(2, 300);
      const levels = rng.int(1, 8); // few distinct scores → many ties
      const scores = new Float32Array(n);
      const labels = new Float32Array(n);
      const mask = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        scores[i] = rng.int(0, levels - 1) / levels;
        labels[i] = rng.uniform() < 0.3 ? 1 : 0;
        mask[i] = rng.uniform() < 0.8 ? 1 : 0;
      }
      const expected = bruteForceAuc(scores, labels);
      if (Number.isNaN(expected)) expect(auc(scores, labels)).toBeNaN();
      else expect(auc(scores, labels)).toBeCloseTo(expected, 12);
      const expectedMasked = bruteForceAuc(scores, labels, mask);
      if (Number.isNaN(expectedMasked)) expect(auc(scores, labels, mask)).toBeNaN();
      else expect(auc(scores, labels, mask)).toBeCloseTo(expectedMasked, 12);
    }
  });

  it('rejects mismatched lengths', () => {
    expect(() => auc([0.1, 0.2], [0])).toThrow(RangeError);
    expect(() => auc([0.1, 0.2], [0, 1], [1])).toThrow(RangeError);
  });
});

/** The definition of expectedAuc: expected correctly ordered pairs over expected pairs, summed over i != j. O(n^2). */
function bruteForceExpectedAuc(scores: ArrayLike<number>, p: ArrayLike<number>): number {
  let correct = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    for (let j = 0; j < scores.length; j++) {
      if (i === j) continue;
      const w = p[i] * (1 - p[j]);
      pairs += w;
      if (scores[i] > scores[j]) correct += w;
      else if (scores[i] === scores[j]) correct += w / 2;
    }
  }
  return correct / pairs;
}

describe('expectedAuc', () => {
  it('matches the pair sum on random data with many ties', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rng = new Rng(seed);
      const n = rng.int(2, 200);
      const levels = rng.int(1, 8);
      const scores = Float64Array.from({ length: n }, () => rng.int(0, levels - 1) / levels);
      const p = Float64Array.from({ length: n }, () => rng.uniform());
      expect(expectedAuc(scores, p), `seed ${seed}`).toBeCloseTo(bruteForceExpectedAuc(scores, p), 12);
    }
  });

  it('is the AUC itself when the labels are certain (probabilities 0 and 1)', () => {
    const scores = [0.1, 0.4, 0.35, 0.8, 0.4];
    const labels = [0, 0, 1, 1, 1];
    expect(expectedAuc(scores, labels)).toBeCloseTo(0.75, 12);
    expect(expectedAuc([0.2, 0.9], [1, 1])).toBeNaN();
  });

  it('is what drawn labels measure: pooled over many draws, the pair counts converge to it', () => {
    const rng = new Rng(3);
    const n = 150;
    const p = Float64Array.from({ length: n }, () => 1 / (1 + Math.exp(-2 * rng.normal())));
    let correct = 0;
    let pairs = 0;
    for (let draw = 0; draw < 3000; draw++) {
      const y = Float64Array.from(p, (pi) => (rng.uniform() < pi ? 1 : 0));
      const positives = y.reduce((s, v) => s + v, 0);
      const count = positives * (n - positives);
      if (count === 0) continue;
      correct += auc(p, y) * count;
      pairs += count;
    }
    expect(Math.abs(correct / pairs - expectedAuc(p, p))).toBeLessThan(0.003);
  });

  it('is highest for the true probabilities: a noisy score of them ranks worse', () => {
    const rng = new Rng(5);
    const p = Float64Array.from({ length: 2000 }, () => 1 / (1 + Math.exp(-2 * rng.normal())));
    const noisy = p.map((v) => v + 0.2 * rng.normal());
    expect(expectedAuc(p, p)).toBeGreaterThan(expectedAuc(noisy, p) + 0.01);
    expect(expectedAuc(p.map((v) => -v), p)).toBeCloseTo(1 - expectedAuc(p, p), 12);
  });
});

describe('logLoss', () => {
  it('matches a hand computation', () => {
    // -(ln 0.9 + ln 0.8 + ln 0.4) / 3 = (0.105360516 + 0.223143551 + 0.916290732) / 3 = 0.414931600
    expect(logLoss([0.9, 0.2, 0.6], [1, 0, 0])).toBeCloseTo(0.4149316, 7);
    // Masking the third sample: (0.105360516 + 0.223143551) / 2 = 0.164252034
    expect(logLoss([0.9, 0.2, 0.6], [1, 0, NaN], [1, 1, 0])).toBeCloseTo(0.16425203, 7);
  });

  it('clips probabilities to [1e-7, 1 - 1e-7]', () => {
    // A certain mistake costs -ln(1e-7) = 16.118095651 rather than Infinity.
    expect(logLoss([0, 1], [1, 0])).toBeCloseTo(16.118095651, 6);
    // A certain hit costs -ln(1 - 1e-7) ≈ 1.0000000e-7 rather than 0.
    expect(logLoss([0, 1], [0, 1])).toBeCloseTo(1e-7, 12);
    expect(logLoss([0, 1], [0, 1])).toBeGreaterThan(0);
  });

  it('is NaN with nothing counted', () => {
    expect(logLoss([0.5], [1], [0])).toBeNaN();
  });
});

describe('mse', () => {
  it('matches a hand computation', () => {
    // ((1 - 1.5)^2 + 0 + (3 - 1)^2) / 3 = 4.25 / 3
    expect(mse([1, 2, 3], [1.5, 2, 1])).toBeCloseTo(4.25 / 3, 12);
    // Masking the second sample: 4.25 / 2
    expect(mse([1, 2, 3], [1.5, NaN, 1], [1, 0, 1])).toBe(2.125);
    expect(mse([1], [2], [0])).toBeNaN();
  });
});

describe('taskMetrics', () => {
  it('computes AUC and log loss for binary tasks, MSE for regression, under a rows x tasks mask', () => {
    const tasks = [
      { name: 'click', type: 'binary' as const },
      { name: 'watch', type: 'regression' as const },
    ];
    const predictions = [new Float32Array([0.9, 0.2, 0.6, 0.7]), new Float32Array([1, 2, 3, 4])];
    // rows x tasks: (click, watch)
    const labels = [1, 1.5, 0, 2, 0, 1, NaN, 10];
    const mask = [1, 1, 1, 1, 1, 1, 0, 1];
    const m = taskMetrics(tasks, predictions, labels, mask);
    expect(Object.keys(m).sort()).toEqual(['click', 'watch']);
    // click: probabilities 0.9, 0.2, 0.6 against 1, 0, 0 (row 3 masked): the logLoss case above; the positive outranks both negatives.
    expect(m.click.auc).toBe(1);
    expect(m.click.logLoss).toBeCloseTo(0.4149316, 6);
    expect(m.click.count).toBe(3);
    expect(m.click.mse).toBeUndefined();
    // watch: (0.25 + 0 + 4 + 36) / 4
    expect(m.watch.mse).toBe(10.0625);
    expect(m.watch.count).toBe(4);
    expect(m.watch.auc).toBeUndefined();
    expect(m.watch.logLoss).toBeUndefined();
  });

  it('ranks logits for AUC: confident probabilities tie at 1.0 in float32, their logits do not', () => {
    const tasks = [{ name: 'click', type: 'binary' as const }];
    // Logits 18, 20, 25 all give Math.fround(sigmoid) === 1; the negative at 18 is below both positives.
    const logits = new Float32Array([25, 20, 18, -1]);
    const probs = logits.map((z) => 1 / (1 + Math.exp(-z)));
    expect([probs[0], probs[1], probs[2]]).toEqual([1, 1, 1]);
    const labels = [1, 1, 0, 0];
    // From probabilities: the negative at 18 ties both positives, each pair counting 1/2: AUC (1/2 + 1/2 + 1 + 1) / 4.
    expect(taskMetrics(tasks, [probs], labels).click.auc).toBe(0.75);
    // From logits: every positive outranks every negative.
    expect(taskMetrics(tasks, [probs], labels, undefined, [logits]).click.auc).toBe(1);
    expect(() => taskMetrics(tasks, [probs], labels, undefined, [new Float32Array(3)])).toThrow(/scores/);
  });

  it('counts every row without a mask and checks shapes', () => {
    const tasks = [{ name: 't', type: 'regression' as const }];
    expect(taskMetrics(tasks, [new Float32Array([1, 2])], [1, 4])).toEqual({ t: { mse: 2, count: 2 } });
    expect(() => taskMetrics(tasks, [new Float32Array([1, 2])], [1, 4, 5])).toThrow(RangeError);
    expect(() => taskMetrics(tasks, [], [])).toThrow(RangeError);
  });
});

describe('gateStatistics', () => {
  it('a uniform gate has normalised entropy 1 and mean max 1/n', () => {
    const s = gateStatistics(new Float32Array(12).fill(0.25), 3, 4);
    expect(s.meanWeights).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(s.normalisedEntropy).toBeCloseTo(1, 12);
    expect(s.meanMax).toBe(0.25);
  });

  it('a one-hot gate has normalised entropy 0 and mean max 1', () => {
    const s = gateStatistics(new Float32Array([1, 0, 0, 0, 1, 0, 0, 1, 0]), 3, 3);
    expect(s.meanWeights[0]).toBeCloseTo(1 / 3, 12);
    expect(s.meanWeights[1]).toBeCloseTo(2 / 3, 12);
    expect(s.meanWeights[2]).toBe(0);
    expect(s.normalisedEntropy).toBe(0);
    expect(s.meanMax).toBe(1);
  });

  it('matches a hand computation on a mixed gate, with and without a mask', () => {
    // Rows (n = 2): [0.5, 0.5], [1, 0], [0.75, 0.25].
    // Entropies / ln 2: 1; 0; -(0.75 ln 0.75 + 0.25 ln 0.25) / ln 2 = (0.215761554 + 0.346573590) / 0.693147181 = 0.811278124.
    const w = new Float32Array([0.5, 0.5, 1, 0, 0.75, 0.25]);
    const s = gateStatistics(w, 3, 2);
    expect(s.meanWeights).toEqual([0.75, 0.25]); // (0.5 + 1 + 0.75) / 3, (0.5 + 0 + 0.25) / 3
    expect(s.normalisedEntropy).toBeCloseTo((1 + 0 + 0.811278124) / 3, 8); // 0.603759375
    expect(s.meanMax).toBe(0.75); // (0.5 + 1 + 0.75) / 3
    const masked = gateStatistics(w, 3, 2, [1, 0, 1]);
    expect(masked.meanWeights).toEqual([0.625, 0.375]);
    expect(masked.normalisedEntropy).toBeCloseTo((1 + 0.811278124) / 2, 8); // 0.905639062
    expect(masked.meanMax).toBe(0.625);
  });

  it('gives entropy 0 for a single expert, NaN with no rows, and checks shapes', () => {
    expect(gateStatistics(new Float32Array([1, 1]), 2, 1)).toEqual({ meanWeights: [1], normalisedEntropy: 0, meanMax: 1 });
    expect(gateStatistics(new Float32Array([0.5, 0.5]), 1, 2, [0]).normalisedEntropy).toBeNaN();
    expect(() => gateStatistics(new Float32Array(5), 2, 3)).toThrow(RangeError);
    expect(() => gateStatistics(new Float32Array(6), 2, 3, [1])).toThrow(RangeError);
  });
});
