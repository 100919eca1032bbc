/**
 * Regression targets standardised with training statistics: y' = (y - mean) / std per regression
 * task, so a target in the thousands does not drown a binary task's log loss. Training sees y';
 * the MSE metrics go back to the target's own units (MSE(y) = std^2 MSE(y')), and so do
 * predictions. The scaling is plain JSON, stored with checkpoints so a resumed run or a
 * prediction uses the same one. Binary tasks are never scaled.
 */
import { mapChunks, type Dataset, type Split, type StreamDataset } from './dataset.js';
import type { EvalReport } from '../training/evaluate.js';
import type { EpochReport } from '../training/fit.js';

/**
 * How regression targets were standardised for training ({@link fitTargetScaling}): each scaled task's
 * mean and standard deviation in the targets' own units. Plain JSON, stored in checkpoints.
 */
export interface TargetScaling {
  version: 1;
  /** One entry per scaled (regression) task, by task name. */
  tasks: { name: string; mean: number; std: number }[];
}

/** The scaling that changes nothing (raw targets). */
export const NO_SCALING: TargetScaling = { version: 1, tasks: [] };

/** Mean and standard deviation of each regression task's labelled training rows (std 1 when constant or unlabelled). */
export function fitTargetScaling(dataset: Dataset): TargetScaling {
  const K = dataset.tasks.length;
  const { labels, mask, rows } = dataset.train;
  const tasks: TargetScaling['tasks'] = [];
  dataset.tasks.forEach((t, k) => {
    if (t.type !== 'regression') return;
    let n = 0;
    let sum = 0;
    for (let r = 0; r < rows; r++) if (mask[r * K + k]) (n++, (sum += labels[r * K + k]));
    const mean = n ? sum / n : 0;
    let ss = 0;
    for (let r = 0; r < rows; r++) if (mask[r * K + k]) ss += (labels[r * K + k] - mean) ** 2;
    const std = n ? Math.sqrt(ss / n) : 0;
    tasks.push({ name: t.name, mean, std: std > 1e-12 && Number.isFinite(std) ? std : 1 });
  });
  return { version: 1, tasks };
}

/** Reads a scaling back from JSON (a checkpoint's); a malformed one is an error naming the field. */
export function targetScalingFromJSON(json: unknown, source = 'checkpoint'): TargetScaling {
  const s = json as TargetScaling;
  const ok = s && s.version === 1 && Array.isArray(s.tasks) && s.tasks.every((t) => typeof t?.name === 'string' && Number.isFinite(t.mean) && Number.isFinite(t.std) && t.std > 0);
  if (!ok) throw new Error(`${source}: "targets" is not a version 1 target scaling ({ version: 1, tasks: [{ name, mean, std > 0 }] })`);
  return { version: 1, tasks: s.tasks.map((t) => ({ name: t.name, mean: t.mean, std: t.std })) };
}

/** Per task of `taskNames`: its mean and std, or null when it is not scaled. */
function perTask(scaling: TargetScaling, taskNames: string[]): ({ mean: number; std: number } | null)[] {
  return taskNames.map((n) => scaling.tasks.find((t) => t.name === n) ?? null);
}

/** The data set with its regression labels standardised (new label arrays; inputs shared). */
export function scaleTargets(dataset: Dataset, scaling: TargetScaling): Dataset {
  const by = perTask(scaling, dataset.tasks.map((t) => t.name));
  if (by.every((s) => s === null)) return dataset;
  const K = dataset.tasks.length;
  const scale = (split: Split): Split => ({
    ...split,
    labels: Float32Array.from(split.labels, (y, i) => {
      const s = by[i % K];
      return s ? (y - s.mean) / s.std : y;
    }),
  });
  return { ...dataset, train: scale(dataset.train), validation: dataset.validation && scale(dataset.validation), test: dataset.test && scale(dataset.test) };
}

/** An evaluation with its MSE metrics in the targets' own units (losses stay on the training scale). */
export function reportInTargetUnits(report: EvalReport, scaling: TargetScaling): EvalReport {
  const tasks = { ...report.tasks };
  for (const s of scaling.tasks) {
    const m = tasks[s.name];
    if (m?.mse !== undefined) tasks[s.name] = { ...m, mse: m.mse * s.std * s.std };
  }
  return { ...report, tasks };
}

/** An epoch report with its validation MSE metrics in the targets' own units. */
export function epochInTargetUnits(report: EpochReport, scaling: TargetScaling): EpochReport {
  return report.validation ? { ...report, validation: reportInTargetUnits(report.validation, scaling) } : report;
}

/** Predictions (one array per task) back in the targets' own units. */
export function predictionsInTargetUnits(predictions: Float32Array[], taskNames: string[], scaling: TargetScaling): Float32Array[] {
  return perTask(scaling, taskNames).map((s, k) => (s ? Float32Array.from(predictions[k], (p) => p * s.std + s.mean) : predictions[k]));
}

/** The regression targets' scaling of a streamed data set: one pass over its training chunks (as fitTargetScaling does in memory). */
export async function streamTargetScaling(dataset: StreamDataset): Promise<TargetScaling> {
  const K = dataset.tasks.length;
  const regression = dataset.tasks.map((t, k) => ({ name: t.name, k })).filter(({ k }) => dataset.tasks[k].type === 'regression');
  if (regression.length === 0) return { version: 1, tasks: [] };
  const m = regression.map(() => ({ n: 0, mean: 0, m2: 0 }));
  for await (const c of dataset.train.chunks()) {
    regression.forEach(({ k }, j) => {
      for (let r = 0; r < c.rows; r++) {
        if (!c.mask[r * K + k]) continue;
        const y = c.labels[r * K + k];
        const a = m[j];
        const d = y - a.mean;
        a.mean += d / ++a.n;
        a.m2 += d * (y - a.mean);
      }
    });
  }
  return {
    version: 1,
    tasks: regression.map(({ name }, j) => {
      const std = m[j].n ? Math.sqrt(m[j].m2 / m[j].n) : 0;
      return { name, mean: m[j].mean, std: std > 1e-12 && Number.isFinite(std) ? std : 1 };
    }),
  };
}

/** A streamed data set with its regression labels standardised chunk by chunk. */
export function scaleStreamTargets(dataset: StreamDataset, scaling: TargetScaling): StreamDataset {
  if (scaling.tasks.length === 0) return dataset;
  const scale = (split: StreamDataset['train']) => mapChunks(split, (c) => scaleTargets({ ...dataset, train: c, validation: undefined, test: undefined }, scaling).train);
  return { ...dataset, train: scale(dataset.train), validation: dataset.validation && scale(dataset.validation), test: dataset.test && scale(dataset.test) };
}
