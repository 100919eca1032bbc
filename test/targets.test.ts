/** Regression-target standardisation (src/data/targets.ts): statistics, scaling, and metrics back in the targets' units. */
import { describe, expect, it } from 'vitest';
import { epochInTargetUnits, fitTargetScaling, predictionsInTargetUnits, reportInTargetUnits, scaleTargets, targetScalingFromJSON } from '../src/data/targets.js';
import { mse } from '../src/metrics.js';
import { Rng } from '../src/rng.js';
import type { Dataset, Split } from '../src/data/dataset.js';
import type { EvalReport } from '../src/training/evaluate.js';

const seed = 20261129;
/** Two tasks: a binary one and a regression one in the hundreds, with some labels missing. */
function data(rows: number, rng: Rng): Split {
  const labels = new Float32Array(rows * 2);
  const mask = new Float32Array(rows * 2);
  for (let r = 0; r < rows; r++) {
    labels[r * 2] = rng.uniform() < 0.3 ? 1 : 0;
    mask[r * 2] = 1;
    const present = rng.uniform() < 0.8;
    labels[r * 2 + 1] = present ? 40 + 300 * rng.uniform() : NaN;
    mask[r * 2 + 1] = present ? 1 : 0;
  }
  return { rows, x: new Float32Array(rows), labels, mask };
}

describe('target scaling', () => {
  const rng = new Rng(seed);
  const ds: Dataset = { name: 'd', inputDim: 1, tasks: [{ name: 'click', type: 'binary' }, { name: 'hours', type: 'regression' }], train: data(301, rng), validation: data(57, rng) };

  it('learns mean and std of the labelled training rows of regression tasks only (seed ' + seed + ')', () => {
    const s = fitTargetScaling(ds);
    expect(s.tasks.map((t) => t.name)).toEqual(['hours']);
    const ys: number[] = [];
    for (let r = 0; r < ds.train.rows; r++) if (ds.train.mask[r * 2 + 1]) ys.push(ds.train.labels[r * 2 + 1]);
    const mean = ys.reduce((a, y) => a + y, 0) / ys.length;
    const std = Math.sqrt(ys.reduce((a, y) => a + (y - mean) ** 2, 0) / ys.length);
    expect(s.tasks[0].mean).toBeCloseTo(mean, 4);
    expect(s.tasks[0].std).toBeCloseTo(std, 4);
    const scaled = scaleTargets(ds, s);
    const train: number[] = [];
    for (let r = 0; r < ds.train.rows; r++) {
      expect(scaled.train.labels[r * 2]).toBe(ds.train.labels[r * 2]);
      if (scaled.train.mask[r * 2 + 1]) train.push(scaled.train.labels[r * 2 + 1]);
      else expect(scaled.train.labels[r * 2 + 1]).toBeNaN();
    }
    expect(train.reduce((a, y) => a + y, 0) / train.length).toBeCloseTo(0, 5);
    expect(Math.sqrt(train.reduce((a, y) => a + y * y, 0) / train.length)).toBeCloseTo(1, 5);
    expect(scaled.train.x).toBe(ds.train.x);
  });

  it('MSE and predictions go back to the target units exactly', () => {
    const s = fitTargetScaling(ds);
    const scaled = scaleTargets(ds, s);
    const v = scaled.validation!;
    const column = (a: Float32Array) => Float32Array.from({ length: v.rows }, (_, r) => a[r * 2 + 1]);
    const mask = column(v.mask);
    const predScaled = Float32Array.from({ length: v.rows }, () => rng.normal());
    const report: EvalReport = { loss: 1, taskLoss: [0.5, mse(predScaled, column(v.labels), mask)], tasks: { click: { auc: 0.7, count: v.rows }, hours: { mse: mse(predScaled, column(v.labels), mask), count: 3 } }, gates: [] };
    const [, predHours] = predictionsInTargetUnits([new Float32Array(v.rows), predScaled], ['click', 'hours'], s);
    const direct = mse(predHours, column(ds.validation!.labels), mask);
    const back = reportInTargetUnits(report, s);
    expect(back.tasks.hours.mse! / direct).toBeCloseTo(1, 4);
    expect(back.tasks.click).toEqual(report.tasks.click);
    expect(back.taskLoss).toEqual(report.taskLoss);
    const epoch = epochInTargetUnits({ epoch: 1, learningRate: 0.1, taskWeights: [1, 1], train: { loss: 1, taskLoss: [1, 1], gradNorm: 1 }, validation: report, seconds: 1 }, s);
    expect(epoch.validation!.tasks.hours.mse).toBe(back.tasks.hours.mse);
  });

  it('a constant target gets std 1; a malformed stored scaling is an error naming the field', () => {
    const flat: Dataset = { ...ds, train: { ...ds.train, labels: ds.train.labels.map((y, i) => (i % 2 ? 7 : y)) } };
    expect(fitTargetScaling(flat).tasks[0]).toEqual({ name: 'hours', mean: 7, std: 1 });
    expect(targetScalingFromJSON(JSON.parse(JSON.stringify(fitTargetScaling(ds))))).toEqual(fitTargetScaling(ds));
    expect(() => targetScalingFromJSON({ version: 1, tasks: [{ name: 'hours', mean: 1, std: 0 }] }, 'a.safetensors')).toThrow(/a\.safetensors: "targets" is not a version 1 target scaling/);
  });
});
