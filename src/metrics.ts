/**
 * Evaluation metrics on the host: ROC AUC, log loss and mean squared error per
 * task, and statistics of gate weights (expert utilisation and concentration).
 *
 * A mask selects samples: a sample counts when its mask value is nonzero, and
 * every sample counts when the mask is absent. Masked-out labels are never read
 * as numbers, so they may be NaN. Sums are accumulated in float64.
 */
import type { TaskType } from './config.js';

/** One task's metrics over a split (see {@link taskMetrics}): binary tasks get AUC and log loss, regression tasks MSE. */
export interface TaskMetrics {
  /** Binary tasks: ROC AUC (NaN when one class is absent). */
  auc?: number;
  /** Binary tasks: mean binary cross-entropy. */
  logLoss?: number;
  /** Regression tasks: mean squared error. */
  mse?: number;
  /** Samples counted. */
  count: number;
}

/** How one gate spreads its weight over its experts, summarised over rows (see {@link gateStatistics}). */
export interface GateStatistics {
  /** Mean weight of each expert over the counted rows (utilisation). */
  meanWeights: number[];
  /** Mean entropy of a row's weights divided by log(n): 1 = uniform, 0 = one-hot. */
  normalisedEntropy: number;
  /** Mean of each row's largest weight: 1/n = uniform, 1 = one-hot. */
  meanMax: number;
}

/** Clipping of probabilities in `logLoss`, so a confident mistake costs ~16, not Infinity. */
const PROB_EPS = 1e-7;

function checkLengths(name: string, a: ArrayLike<number>, b: ArrayLike<number>, mask?: ArrayLike<number>): void {
  if (a.length !== b.length) throw new RangeError(`${name}: inputs have ${a.length} and ${b.length} values`);
  if (mask && mask.length !== a.length) throw new RangeError(`${name}: mask has ${mask.length} values, expected ${a.length}`);
}

/**
 * ROC AUC by the rank-sum (Mann–Whitney U) formula: rank all counted scores
 * (tied scores get their average rank), then
 *   AUC = (sum of positive ranks - P(P+1)/2) / (P N),
 * i.e. the fraction of (positive, negative) pairs ordered correctly, a tie
 * counting 1/2. Labels are 0/1 (>= 0.5 counts as positive). Returns NaN when
 * either class is absent or a counted score is NaN. O(n log n).
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>, mask?: ArrayLike<number>): number {
  checkLengths('auc', scores, labels, mask);
  const order: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    if (mask && mask[i] === 0) continue;
    if (Number.isNaN(scores[i])) return NaN;
    order.push(i);
  }
  order.sort((a, b) => scores[a] - scores[b]);

  let positives = 0;
  let positiveRankSum = 0;
  for (let start = 0; start < order.length; ) {
    // [start, end) is one run of tied scores; its ranks (1-based) average to (start + 1 + end) / 2.
    let end = start + 1;
    while (end < order.length && scores[order[end]] === scores[order[start]]) end++;
    const averageRank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) {
      if (labels[order[k]] >= 0.5) {
        positives++;
        positiveRankSum += averageRank;
      }
    }
    start = end;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * The AUC that `scores` reach in expectation when row i's label is 1 with
 * probability `probabilities[i]` (independently): the ratio of the expected
 * correctly ordered (positive, negative) pairs to the expected pairs,
 *   Σ_{i≠j} p_i (1 - p_j) ([s_i > s_j] + ½[s_i = s_j]) / Σ_{i≠j} p_i (1 - p_j),
 * to which a sample's AUC converges as its rows grow. With the true
 * probabilities as scores it is the Bayes AUC: no scoring does better on those
 * rows. O(n log n).
 */
export function expectedAuc(scores: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  checkLengths('expectedAuc', scores, probabilities);
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let total = 0;
  for (let i = 0; i < order.length; i++) total += probabilities[i];
  // Walk from the highest score down; `above` sums p over the rows scored higher than the current run of ties.
  let above = 0;
  let correct = 0;
  let pairs = 0;
  for (let end = order.length; end > 0; ) {
    let start = end - 1;
    while (start > 0 && scores[order[start - 1]] === scores[order[end - 1]]) start--;
    let tied = 0;
    for (let k = start; k < end; k++) tied += probabilities[order[k]];
    for (let k = start; k < end; k++) {
      const p = probabilities[order[k]];
      correct += (1 - p) * (above + (tied - p) / 2);
      pairs += (1 - p) * (total - p);
    }
    above += tied;
    end = start;
  }
  return pairs === 0 ? NaN : correct / pairs;
}

/** Mean binary cross-entropy of probabilities against 0/1 labels; probabilities are clipped to [1e-7, 1 - 1e-7]. NaN when nothing is counted. */
export function logLoss(probs: ArrayLike<number>, labels: ArrayLike<number>, mask?: ArrayLike<number>): number {
  checkLengths('logLoss', probs, labels, mask);
  let sum = 0;
  let count = 0;
  for (let i = 0; i < probs.length; i++) {
    if (mask && mask[i] === 0) continue;
    const p = Math.min(Math.max(probs[i], PROB_EPS), 1 - PROB_EPS);
    const y = labels[i];
    sum -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
    count++;
  }
  return count === 0 ? NaN : sum / count;
}

/** Mean squared error. NaN when nothing is counted. */
export function mse(pred: ArrayLike<number>, target: ArrayLike<number>, mask?: ArrayLike<number>): number {
  checkLengths('mse', pred, target, mask);
  let sum = 0;
  let count = 0;
  for (let i = 0; i < pred.length; i++) {
    if (mask && mask[i] === 0) continue;
    const d = pred[i] - target[i];
    sum += d * d;
    count++;
  }
  return count === 0 ? NaN : sum / count;
}

/**
 * Metrics of every task, keyed by task name: AUC and log loss for binary tasks
 * (predictions are probabilities), MSE for regression tasks. `labels` and
 * `mask` are rows x tasks, row-major, as in a training `Batch`;
 * `predictions[k]` holds the rows' outputs for task k. AUC ranks `scores[k]`
 * when given: pass the logits, since float32 probabilities of confident
 * predictions (logits above ~17) all round to 1.0 and would tie.
 */
export function taskMetrics(
  tasks: readonly { name: string; type: TaskType }[],
  predictions: readonly Float32Array[],
  labels: ArrayLike<number>,
  mask?: ArrayLike<number>,
  scores?: readonly Float32Array[],
): Record<string, TaskMetrics> {
  const K = tasks.length;
  if (predictions.length !== K) throw new RangeError(`taskMetrics: ${predictions.length} prediction arrays for ${K} tasks`);
  const rows = K === 0 ? 0 : predictions[0].length;
  for (let k = 0; k < K; k++) {
    if (predictions[k].length !== rows) {
      throw new RangeError(`taskMetrics: predictions of task "${tasks[k].name}" have ${predictions[k].length} values, expected ${rows}`);
    }
  }
  if (labels.length !== rows * K) throw new RangeError(`taskMetrics: labels have ${labels.length} values, expected rows (${rows}) x tasks (${K})`);
  if (mask && mask.length !== rows * K) throw new RangeError(`taskMetrics: mask has ${mask.length} values, expected rows (${rows}) x tasks (${K})`);
  if (scores && (scores.length !== K || scores.some((s) => s.length !== rows))) {
    throw new RangeError(`taskMetrics: scores must be ${K} arrays of ${rows} values, like the predictions`);
  }

  const result: Record<string, TaskMetrics> = {};
  const column = new Float64Array(rows);
  const columnMask = new Uint8Array(rows);
  for (let k = 0; k < K; k++) {
    let count = 0;
    for (let r = 0; r < rows; r++) {
      const counted = !mask || mask[r * K + k] !== 0;
      columnMask[r] = counted ? 1 : 0;
      // Masked labels may be NaN; store 0 so nothing downstream sees them.
      column[r] = counted ? labels[r * K + k] : 0;
      if (counted) count++;
    }
    const pred = predictions[k];
    result[tasks[k].name] =
      tasks[k].type === 'binary'
        ? { auc: auc(scores ? scores[k] : pred, column, columnMask), logLoss: logLoss(pred, column, columnMask), count }
        : { mse: mse(pred, column, columnMask), count };
  }
  return result;
}

/**
 * Statistics of one gate's weights: `weights` is rows x n, row-major, each row
 * a probability vector over the gate's n experts (a softmax output). `mask`
 * (one value per row) selects the rows counted. Entropy uses 0·log 0 = 0 and
 * is 0 for n = 1. With no rows counted every statistic is NaN.
 */
export function gateStatistics(weights: Float32Array, rows: number, n: number, mask?: ArrayLike<number>): GateStatistics {
  if (!Number.isInteger(rows) || rows < 0) throw new RangeError(`gateStatistics: rows must be an integer >= 0, got ${rows}`);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`gateStatistics: n must be an integer >= 1, got ${n}`);
  if (weights.length !== rows * n) throw new RangeError(`gateStatistics: weights have ${weights.length} values, expected rows (${rows}) x n (${n})`);
  if (mask && mask.length !== rows) throw new RangeError(`gateStatistics: mask has ${mask.length} values, expected rows (${rows})`);

  const sums = new Float64Array(n);
  let entropySum = 0;
  let maxSum = 0;
  let count = 0;
  for (let r = 0; r < rows; r++) {
    if (mask && mask[r] === 0) continue;
    let entropy = 0;
    let max = -Infinity;
    for (let j = 0; j < n; j++) {
      const w = weights[r * n + j];
      sums[j] += w;
      if (w > 0) entropy -= w * Math.log(w);
      if (w > max) max = w;
    }
    entropySum += entropy;
    maxSum += max;
    count++;
  }
  if (count === 0) return { meanWeights: Array.from(sums, () => NaN), normalisedEntropy: NaN, meanMax: NaN };
  return {
    meanWeights: Array.from(sums, (s) => s / count),
    normalisedEntropy: n === 1 ? 0 : entropySum / count / Math.log(n),
    meanMax: maxSum / count,
  };
}
