/**
 * The training loop: epochs over shuffled batches with warm-up and decay,
 * gradient clipping, dynamic task weights, evaluation each epoch, early
 * stopping, and a guard that stops on a non-finite loss or gradient.
 * Steps are submitted ahead of their results (a bounded number in flight).
 */
import type { Trainer } from '../trainer.js';
import type { Dataset, StreamDataset } from '../data/dataset.js';
import { epochBatches, shuffle } from '../data/stream.js';
import { learningRate, taskWeightsAt, type Decay } from './schedule.js';
import { evaluate, type EvalReport } from './evaluate.js';
import type { EarlyStoppingState } from '../checkpoint/metadata.js';

/** Options of {@link fit}. Steps, epochs and rates are counts and per-step values; `seconds` are wall time. */
export interface FitOptions {
  epochs: number;
  /** Base learning rate (default: the optimizer's). */
  learningRate?: number;
  warmupSteps?: number;
  decay?: Decay;
  /** Clip the global gradient norm (0 or absent: off). */
  clipNorm?: number;
  /** Per-task gamma_k of w_k(t) = w_k0 gamma_k^t, t the epoch (absent: static weights). */
  taskGamma?: number[];
  /**
   * Stop when the validation metric has not improved for `patience` epochs, and restore
   * the best parameters. metric: 'loss' or '<task>.<auc|logLoss|mse>'.
   */
  earlyStopping?: { metric: string; patience: number };
  /** Early stopping's state from a checkpoint (resuming): the best epoch so far, and its parameters. */
  earlyStoppingState?: { state: EarlyStoppingState; bestParams?: Map<string, Float32Array> };
  /** Seed of the shuffling (epoch e shuffles with seed + e, so a resumed run repeats it). */
  seed?: number;
  /** false: batches in the data's row order (default true). */
  shuffle?: boolean;
  /** A streamed training split shuffles through a buffer of this many rows (default 65536). */
  shuffleBuffer?: number;
  /** First epoch to run (1-based), for resuming. */
  startEpoch?: number;
  /** Steps of startEpoch already taken (a run stopped mid-epoch): its shuffle is repeated and they are skipped. */
  startStep?: number;
  /** Steps submitted ahead of their results. */
  maxInFlight?: number;
  /** After each step's result: the epoch's running mean of the weighted total and of each task's loss. */
  onProgress?: (p: { epoch: number; step: number; stepsPerEpoch: number; loss: number; taskLoss: number[] }) => void;
  /** After each epoch (awaited): its report and early stopping's state after it (what a checkpoint keeps to resume). */
  onEpoch?: (report: EpochReport, state: EpochState) => void | Promise<void>;
  /** Polled between steps; true ends training after the current step (mid-epoch: no report, see FitResult.stoppedAt). */
  shouldStop?: () => boolean;
  /** Awaited before each step: a caller pauses training by returning a promise it resolves on resume. */
  beforeStep?: () => void | Promise<void>;
}

/** One epoch's training means, learning rate, task weights and validation report. */
export interface EpochReport {
  epoch: number;
  learningRate: number;
  taskWeights: number[];
  train: { loss: number; taskLoss: number[]; gradNorm: number };
  validation?: EvalReport;
  seconds: number;
}

/** Early stopping's state after an epoch, with the best epoch's parameters. */
export interface EpochState {
  earlyStopping?: EarlyStoppingState;
  /** The best epoch's parameters (early stopping), when there is one. */
  bestParams?: Map<string, Float32Array>;
}

/** What {@link fit} did: every epoch's report, the best epoch under early stopping, and whether and where it stopped. */
export interface FitResult {
  epochs: EpochReport[];
  best?: { epoch: number; metric: string; value: number };
  stoppedEarly: boolean;
  /** Where a shouldStop mid-epoch left off: the epoch, and its steps taken (resume with startEpoch and startStep). */
  stoppedAt?: { epoch: number; step: number; stepsPerEpoch: number };
}

/** Training stopped because a loss or the gradient norm became NaN or infinite at `step`. */
export class NonFiniteError extends Error {
  constructor(
    readonly step: number,
    readonly what: string,
  ) {
    super(`training stopped at step ${step}: ${what} is not finite (lower the learning rate, clip gradients, or check the data)`);
    this.name = 'NonFiniteError';
  }
}

/**
 * One metric of an evaluation: 'loss' or '<task>.<auc|logLoss|mse>'.
 * @throws RangeError naming the metric and the tasks there are when it is unknown.
 */
export function metricValue(report: EvalReport, metric: string): number {
  if (metric === 'loss') return report.loss;
  const dot = metric.lastIndexOf('.');
  const task = report.tasks[metric.slice(0, dot)];
  const value = task?.[metric.slice(dot + 1) as 'auc' | 'logLoss' | 'mse'];
  if (typeof value !== 'number') throw new RangeError(`unknown metric "${metric}": use loss or <task>.<auc|logLoss|mse> with a task of ${Object.keys(report.tasks).join(', ')}`);
  return value;
}

const higherIsBetter = (metric: string) => metric.endsWith('.auc');

/**
 * Trains for whole epochs over the shuffled training split, with warm-up and decay, clipping,
 * dynamic task weights, an evaluation of the validation split each epoch and early stopping
 * (restoring the best parameters).
 * @throws NonFiniteError when a loss or the gradient norm is not finite; RangeError for early
 *   stopping without a validation split or an unknown metric; BatchError when the data does not
 *   match the model; DeviceLostError when the device is lost.
 */
export async function fit(trainer: Trainer, data: Dataset | StreamDataset, options: FitOptions): Promise<FitResult> {
  const B = trainer.batchSize;
  const K = data.tasks.length;
  const split = data.train;
  const stepsPerEpoch = Math.ceil(split.rows / B);
  const totalSteps = stepsPerEpoch * options.epochs;
  const baseLr = options.learningRate ?? trainer.optimizer.lr;
  const initialWeights = trainer.spec.config.tasks.map((t) => t.weight);
  const maxInFlight = options.maxInFlight ?? 2;
  trainer.setGradientClip(options.clipNorm ?? 0);
  if (options.earlyStopping && !data.validation) throw new RangeError('early stopping needs a validation split');

  const reports: EpochReport[] = [];
  const resumed = options.earlyStoppingState;
  if (resumed && options.earlyStopping && (resumed.state.metric !== options.earlyStopping.metric || resumed.state.patience !== options.earlyStopping.patience)) {
    throw new RangeError(`early stopping on ${options.earlyStopping.metric} with patience ${options.earlyStopping.patience} cannot continue a state of ${resumed.state.metric} with patience ${resumed.state.patience}`);
  }
  if (resumed?.state.stopped) throw new RangeError(`early stopping already ended this run (best epoch ${resumed.state.best?.epoch}); start a new run from its parameters instead`);
  let best: FitResult['best'] = resumed?.state.best;
  let bestParams: Map<string, Float32Array> | undefined = resumed?.bestParams;
  let sinceBest = resumed?.state.sinceBest ?? 0;
  let stoppedEarly = false;
  const startEpoch = options.startEpoch ?? 1;
  const startStep = options.startStep ?? 0;
  if (!Number.isInteger(startStep) || startStep < 0 || startStep >= stepsPerEpoch) throw new RangeError(`startStep must be an integer in [0, ${stepsPerEpoch}), got ${startStep}`);
  let stoppedAt: FitResult['stoppedAt'];

  for (let epoch = startEpoch; epoch <= options.epochs; epoch++) {
    const started = Date.now();
    const weights = options.taskGamma ? taskWeightsAt(initialWeights, options.taskGamma, epoch - 1) : initialWeights;
    trainer.setTaskWeights(weights);
    const first = epoch === startEpoch ? startStep : 0;
    // The next batch is prepared while the device runs the steps in flight.
    const batches = epochBatches(split, data.inputDim, K, B, { seed: (options.seed ?? 0) + epoch, shuffle: options.shuffle, shuffleBuffer: options.shuffleBuffer });
    const inFlight: Promise<{ total: number; taskLoss: number[]; gradNorm: number; step: number }>[] = [];
    const sums = { total: 0, taskLoss: new Array(K).fill(0), gradNorm: 0, count: 0 };
    const settle = async () => {
      const r = await inFlight.shift()!;
      if (!Number.isFinite(r.total)) {
        const k = r.taskLoss.findIndex((l) => !Number.isFinite(l));
        throw new NonFiniteError(r.step, k >= 0 ? `the loss of task "${data.tasks[k].name}"` : 'the loss');
      }
      if (!Number.isFinite(r.gradNorm)) throw new NonFiniteError(r.step, 'the gradient norm');
      sums.total += r.total;
      r.taskLoss.forEach((l, k) => (sums.taskLoss[k] += l));
      sums.gradNorm += r.gradNorm;
      sums.count++;
      options.onProgress?.({ epoch, step: first + sums.count, stepsPerEpoch, loss: sums.total / sums.count, taskLoss: sums.taskLoss.map((l) => l / sums.count) });
    };
    let lr = baseLr;
    let taken = first;
    try {
      let s = 0;
      for await (const batch of batches) {
        // A run stopped mid-epoch already took the first steps of this epoch's order.
        if (s < first) {
          s++;
          continue;
        }
        await options.beforeStep?.();
        const t = (epoch - 1) * stepsPerEpoch + s++;
        lr = learningRate(baseLr, t, totalSteps, options.warmupSteps ?? 0, options.decay ?? 'constant');
        trainer.setLearningRate(lr);
        inFlight.push(trainer.step(batch));
        taken++;
        if (inFlight.length >= maxInFlight) await settle();
        if (options.shouldStop?.()) break;
      }
      while (inFlight.length) await settle();
      if (taken < stepsPerEpoch) {
        // Stopped mid-epoch: a part of an epoch is not an epoch, so no report.
        stoppedAt = { epoch, step: taken, stepsPerEpoch };
        break;
      }
    } catch (e) {
      // Steps still in flight settle (their results are moot) before the error reaches the caller.
      await Promise.allSettled(inFlight);
      throw e;
    }

    const report: EpochReport = {
      epoch,
      learningRate: lr,
      taskWeights: weights,
      train: { loss: sums.total / sums.count, taskLoss: sums.taskLoss.map((l) => l / sums.count), gradNorm: sums.gradNorm / sums.count },
      validation: data.validation ? await evaluate(trainer, data.validation, data.tasks) : undefined,
      seconds: (Date.now() - started) / 1000,
    };
    reports.push(report);
    const state: EpochState = {};
    if (options.earlyStopping && report.validation) {
      const { metric, patience } = options.earlyStopping;
      const value = metricValue(report.validation, metric);
      const better = best === undefined || (higherIsBetter(metric) ? value > best.value : value < best.value);
      if (better) {
        best = { epoch, metric, value };
        bestParams = await trainer.readParams();
        sinceBest = 0;
      } else if (++sinceBest >= patience) {
        stoppedEarly = true;
      }
      // Stopping restores the best parameters before the epoch's callback, so a checkpoint written there holds them.
      if (stoppedEarly && bestParams) trainer.writeParams(bestParams);
      state.earlyStopping = { metric, patience, best, sinceBest, stopped: stoppedEarly };
      state.bestParams = bestParams;
    }
    await options.onEpoch?.(report, state);
    if (stoppedEarly || options.shouldStop?.()) break;
  }
  return { epochs: reports, best, stoppedEarly, stoppedAt };
}

/** A permutation of 0..n-1 (Fisher-Yates) from a seed (defined with the data streams). */
export { shuffle };
