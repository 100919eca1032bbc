/** The training loop: learning, schedules, dynamic task weights, early stopping, the non-finite guard. */
import { describe, expect, it } from 'vitest';
import { mmoe, ple } from '../src/config.js';
import { Trainer } from '../src/trainer.js';
import { fit, NonFiniteError, type EpochState } from '../src/training/fit.js';
import { evaluate } from '../src/training/evaluate.js';
import { learningRate, taskWeightsAt } from '../src/training/schedule.js';
import { syntheticDataset } from '../src/data/sources.js';
import { testContext } from './gpu.js';

const data = syntheticDataset({ inputDim: 8, correlation: 0.5, trainRows: 512, validationRows: 256, testRows: 0, seed: 3 });
const config = ple({ inputDim: 8, tasks: data.tasks, levels: 2, taskExperts: 1, sharedExperts: 1, expertWidths: [8], towerWidths: [4] });

describe('schedules', () => {
  it('warms up linearly, then decays to zero', () => {
    expect(learningRate(1, 0, 100, 10, 'constant')).toBeCloseTo(0.1);
    expect(learningRate(1, 9, 100, 10, 'cosine')).toBeCloseTo(1);
    expect(learningRate(1, 10, 100, 10, 'cosine')).toBeCloseTo(1);
    expect(learningRate(1, 55, 100, 10, 'cosine')).toBeCloseTo(0.5);
    expect(learningRate(1, 55, 100, 10, 'linear')).toBeCloseTo(0.5);
    expect(learningRate(1, 100, 100, 10, 'linear')).toBeCloseTo(0);
    expect(learningRate(2, 70, 100, 0, 'constant')).toBe(2);
  });
  it('dynamic task weights follow w_k0 gamma_k^t', () => {
    expect(taskWeightsAt([1, 2], [0.5, 1], 0)).toEqual([1, 2]);
    expect(taskWeightsAt([1, 2], [0.5, 1], 3)).toEqual([0.125, 2]);
  });
});

describe('fit', () => {
  it('learns, evaluates each epoch, reports gate statistics, applies dynamic weights', async () => {
    const ctx = await testContext();
    const trainer = await Trainer.create(ctx, config, { batchSize: 64, seed: 1, optimizer: { kind: 'adam', lr: 0.01 } });
    const epochs: number[] = [];
    const result = await fit(trainer, data, { epochs: 4, taskGamma: [0.5, 1], clipNorm: 5, decay: 'cosine', warmupSteps: 4, onEpoch: (r) => void epochs.push(r.epoch) });
    expect(epochs).toEqual([1, 2, 3, 4]);
    const [first, last] = [result.epochs[0], result.epochs[3]];
    expect(last.validation!.loss).toBeLessThan(first.validation!.loss);
    expect(last.train.loss).toBeLessThan(first.train.loss);
    expect(result.epochs.map((e) => e.taskWeights)).toEqual([[1, 1], [0.5, 1], [0.25, 1], [0.125, 1]]);
    expect(first.train.gradNorm).toBeGreaterThan(0);
    const gates = last.validation!.gates;
    // Level 0 has task gates and the shared gate; level 1 only the task gates.
    expect(gates.map((g) => `${g.level}.${g.gate}`)).toEqual(['0.task0', '0.task1', '0.shared', '1.task0', '1.task1']);
    for (const g of gates) {
      expect(g.meanWeights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(g.normalisedEntropy).toBeGreaterThanOrEqual(0);
      expect(g.normalisedEntropy).toBeLessThanOrEqual(1 + 1e-6);
    }
    expect(last.validation!.tasks.task1.mse).toBeGreaterThan(0);
    trainer.destroy();
  });

  it('stops early when the validation metric stops improving, keeping the best parameters', async () => {
    const ctx = await testContext();
    // A learning rate this high makes the validation loss wander: improvement stops quickly.
    const trainer = await Trainer.create(ctx, mmoe({ inputDim: 8, tasks: data.tasks, experts: 2, expertWidths: [4], towerWidths: [] }), { batchSize: 64, seed: 2, optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 } });
    // The parameters after each epoch (the last epoch's callback comes after the best ones are restored).
    const after = new Map<number, Map<string, Float32Array>>();
    const states: EpochState[] = [];
    const result = await fit(trainer, data, {
      epochs: 40,
      earlyStopping: { metric: 'task1.mse', patience: 2 },
      onEpoch: async (r, state) => {
        after.set(r.epoch, await trainer.readParams());
        states.push(state);
      },
    });
    expect(result.stoppedEarly).toBe(true);
    expect(result.epochs.length).toBeLessThan(40);
    expect(result.epochs.length).toBe(result.best!.epoch + 2);
    const bestMse = Math.min(...result.epochs.map((e) => e.validation!.tasks.task1.mse!));
    expect(result.best!.value).toBe(bestMse);
    // The trainer holds the best epoch's parameters, not the last epoch's: they evaluate to the best value.
    const best = after.get(result.best!.epoch)!;
    expect(await trainer.readParams()).toEqual(best);
    expect(after.get(result.best!.epoch + 1)).not.toEqual(best);
    expect((await evaluate(trainer, data.validation!, data.tasks)).tasks.task1.mse).toBe(bestMse);
    // What a checkpoint keeps after each epoch: the state and the best parameters so far.
    const last = states[states.length - 1];
    expect(last.earlyStopping).toEqual({ metric: 'task1.mse', patience: 2, best: result.best, sinceBest: 2, stopped: true });
    expect(last.bestParams).toEqual(best);
    trainer.destroy();
  });

  it('a stop mid-epoch reports no epoch and says where it left off; resuming there trains as an uninterrupted run', async () => {
    const ctx = await testContext();
    const make = () => Trainer.create(ctx, config, { batchSize: 64, seed: 4, optimizer: { kind: 'adam', lr: 0.01 } });
    const whole = await make();
    const wholeResult = await fit(whole, data, { epochs: 2, seed: 9, decay: 'linear' });
    const expected = await whole.readParams();

    const parted = await make();
    const epochs: number[] = [];
    let steps = 0;
    const first = await fit(parted, data, { epochs: 2, seed: 9, decay: 'linear', shouldStop: () => ++steps >= 3, onEpoch: (r) => void epochs.push(r.epoch) });
    expect(epochs).toEqual([]);
    expect(first.epochs).toEqual([]);
    expect(first.stoppedAt).toEqual({ epoch: 1, step: 3, stepsPerEpoch: 8 });
    expect(parted.steps).toBe(3);
    const positions: number[] = [];
    const rest = await fit(parted, data, { epochs: 2, seed: 9, decay: 'linear', startEpoch: 1, startStep: 3, onProgress: (p) => void positions.push(p.step) });
    expect(rest.stoppedAt).toBeUndefined();
    expect(rest.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(positions.slice(0, 5)).toEqual([4, 5, 6, 7, 8]);
    expect(parted.steps).toBe(16);
    const got = await parted.readParams();
    for (const [name, want] of expected) expect(Array.from(got.get(name)!), name).toEqual(Array.from(want));
    expect(rest.epochs[1].validation!.loss).toBe(wholeResult.epochs[1].validation!.loss);
    await expect(fit(parted, data, { epochs: 2, startStep: 8 })).rejects.toThrow(/startStep must be an integer in \[0, 8\), got 8/);
    whole.destroy();
    parted.destroy();
  });

  it('stops within a few steps on a non-finite loss, naming the step', async () => {
    const ctx = await testContext();
    const trainer = await Trainer.create(ctx, config, { batchSize: 64, seed: 1, optimizer: { kind: 'sgd', lr: 1e6 } });
    let steps = 0;
    const error = await fit(trainer, data, { epochs: 50, onProgress: () => steps++ }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteError);
    expect((error as NonFiniteError).message).toMatch(/training stopped at step \d+: .* is not finite/);
    expect((error as NonFiniteError).step).toBeLessThan(20);
    expect(trainer.steps).toBeLessThanOrEqual((error as NonFiniteError).step + 2); // at most maxInFlight steps past it
    trainer.destroy();
  });
});
