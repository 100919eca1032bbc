/**
 * The same checkpoint trained for a few steps by this runtime (float32 on the GPU) and by the PyTorch package
 * (python/ple_webgpu_torch, in float64 and in float32): the losses agree to 1e-5 relative, the parameters to a
 * small fraction of how far the steps moved them, and a checkpoint's predictions and gate weights to 1e-5
 * in both directions (PyTorch reading the runtime's checkpoint, the runtime reading PyTorch's).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgc, mmoe, ple, sharedBottom, singleTask, type ModelConfig, type OptimizerConfig } from '../src/config.js';
import { Trainer, type Batch } from '../src/trainer.js';
import { checkpointBytes, readCheckpoint, trainerFromCheckpoint } from '../src/checkpoint/checkpoint.js';
import { Rng } from '../src/rng.js';
import { caseSeed } from './helpers.js';
import { testContext } from './gpu.js';
import { replay, tempDir } from './python.js';

interface StepPlan extends Batch {
  lr: number;
  weights: number[];
  clip: number;
}

interface ReplayResult {
  steps: { taskLoss: number[]; total: number; gradNorm: number }[];
  params: Record<string, number[]>;
  m1: Record<string, number[]>;
  predictions?: number[];
  gates?: number[][];
}

const BATCH = 8;
const STEPS = 4;
/** See test/training.test.ts: with eps far below f32 rounding of a gradient, Adam turns rounding noise into full steps. */
const ADAM_EPS = 1e-6;

const two = [
  { name: 'click', type: 'binary' as const },
  { name: 'dwell', type: 'regression' as const, weight: 0.5 },
];
const three = [...two, { name: 'like', type: 'binary' as const, weight: 2 }];

interface Case {
  label: string;
  config: ModelConfig;
  optimizer: OptimizerConfig;
  /** Learning rate, task weights and clip norm of step s. */
  schedule?: (s: number, base: number[]) => { lr?: number; weights?: number[]; clip?: number };
}

const cases: Case[] = [
  {
    label: 'PLE 2 levels, gate bias, masked labels, Adam',
    config: ple({ inputDim: 5, tasks: two, levels: 2, taskExperts: 1, sharedExperts: 2, expertWidths: [6], towerWidths: [4], gateBias: true }),
    optimizer: { kind: 'adam', lr: 0.01, eps: ADAM_EPS },
  },
  {
    label: 'PLE 3 levels, 3 tasks, two-layer experts, uncertainty weighting, AdamW',
    config: ple({ inputDim: 5, tasks: three, levels: 3, taskExperts: [2, 1, 1], sharedExperts: 1, expertWidths: [6, 5], towerWidths: [], uncertaintyWeighting: true }),
    optimizer: { kind: 'adamw', lr: 0.01, weightDecay: 0.05, eps: ADAM_EPS },
  },
  {
    label: 'CGC, SGD with momentum and weight decay, dynamic task weights',
    config: cgc({ inputDim: 5, tasks: two, taskExperts: 2, sharedExperts: 1, expertWidths: [6], towerWidths: [4] }),
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 0.001 },
    schedule: (s, base) => ({ weights: base.map((w, k) => w * Math.pow([0.8, 1.1][k], s)) }),
  },
  {
    label: 'MMoE, Adam with weight decay, warm-up and gradient clipping',
    config: mmoe({ inputDim: 5, tasks: two, experts: 3, expertWidths: [6], towerWidths: [4] }),
    optimizer: { kind: 'adam', lr: 0.02, weightDecay: 0.001, eps: ADAM_EPS },
    schedule: (s) => ({ lr: (0.02 * (s + 1)) / STEPS, clip: 0.3 }),
  },
  {
    label: 'shared-bottom, plain SGD',
    config: sharedBottom({ inputDim: 5, tasks: two, bottomWidths: [6, 4], towerWidths: [3] }),
    optimizer: { kind: 'sgd', lr: 0.1 },
  },
  {
    label: 'single-task regression, Adam',
    config: singleTask({ inputDim: 5, task: { name: 'dwell', type: 'regression' }, bottomWidths: [6], towerWidths: [4] }),
    optimizer: { kind: 'adam', lr: 0.01, eps: ADAM_EPS },
  },
  {
    label: 'PLE with two embedding tables, Adam',
    config: ple({
      inputDim: 3,
      embeddings: [
        { name: 'city', vocabulary: 5, dim: 3 },
        { name: 'device', vocabulary: 4, dim: 2 },
      ],
      tasks: two,
      levels: 2,
      taskExperts: 1,
      sharedExperts: 1,
      expertWidths: [6],
      towerWidths: [4],
    }),
    optimizer: { kind: 'adam', lr: 0.01, eps: ADAM_EPS },
  },
];

function batches(rng: Rng, config: ModelConfig, count: number): Batch[] {
  const K = config.tasks.length;
  const tables = config.embeddings ?? [];
  return Array.from({ length: count }, (_, s) => {
    const rows = s === count - 1 ? BATCH - 3 : BATCH; // the last batch is partial (padded and masked)
    const x = Array.from({ length: rows * config.inputDim }, () => rng.normal());
    const mask = Array.from({ length: rows * K }, () => (rng.uniform() < 0.8 ? 1 : 0));
    const labels = mask.map((m, i) => (m === 0 ? NaN : config.tasks[i % K].type === 'binary' ? (rng.uniform() < 0.4 ? 1 : 0) : rng.normal()));
    const categorical = Array.from({ length: rows * tables.length }, (_, i) => Math.floor(rng.uniform() * tables[i % tables.length].vocabulary));
    return { rows, x, labels, mask, categorical: tables.length ? categorical : undefined };
  });
}

const close = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.abs(b) + 1e-7;
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const wire = (b: Batch) => ({ ...b, x: Array.from(b.x), labels: Array.from(b.labels, (y) => (Number.isNaN(y) ? null : y)), mask: Array.from(b.mask ?? []), categorical: Array.from(b.categorical ?? []) });

describe('PyTorch package matches the runtime', () => {
  for (const c of cases) {
    it(c.label, async () => {
      const seed = caseSeed(c.label);
      const where = `${c.label} (seed ${seed}; rerun with PLE_TEST_SEED=${seed})`;
      const ctx = await testContext();
      const rng = new Rng(seed);
      const dir = tempDir();
      const trainer = await Trainer.create(ctx, c.config, { batchSize: BATCH, optimizer: c.optimizer, seed });
      let fromPython: Trainer | undefined;
      try {
        const start = join(dir, 'start.safetensors');
        writeFileSync(start, await checkpointBytes(trainer));
        const initial = await trainer.readParams();
        const base = trainer.spec.config.tasks.map((t) => t.weight);
        const plan: StepPlan[] = batches(rng, c.config, STEPS).map((b, s) => {
          const o = c.schedule?.(s, base) ?? {};
          return { ...b, lr: o.lr ?? c.optimizer.lr, weights: o.weights ?? base, clip: o.clip ?? 0 };
        });

        const runtimeLosses: number[][] = [];
        for (const p of plan) {
          trainer.setLearningRate(p.lr);
          trainer.setTaskWeights(p.weights);
          trainer.setGradientClip(p.clip);
          runtimeLosses.push((await trainer.step(p)).taskLoss);
        }
        const params = await trainer.readParams();
        const { m1 } = await trainer.readOptimizerState();
        const end = join(dir, 'end.safetensors');
        writeFileSync(end, await checkpointBytes(trainer));
        const probe = batches(rng, c.config, 1)[0];
        const inferred = await trainer.infer(probe.x, probe.rows, true, probe.categorical);

        const fromPy = join(dir, 'python.safetensors');
        const steps = plan.map((p) => ({ ...wire(p), lr: p.lr, weights: p.weights, clip: p.clip }));
        const predict = { rows: probe.rows, x: Array.from(probe.x), categorical: Array.from(probe.categorical ?? []) };
        const [f64, f32, ofEnd] = replay<ReplayResult>([
          { checkpoint: start, dtype: 'float64', steps },
          { checkpoint: start, dtype: 'float32', steps, out: fromPy, predict },
          { checkpoint: end, dtype: 'float64', predict },
        ]);

        // Losses, step by step, against both precisions.
        for (const [precision, r] of [['float64', f64], ['float32', f32]] as const) {
          runtimeLosses.forEach((losses, s) =>
            losses.forEach((l, k) => {
              if (!close(l, r.steps[s].taskLoss[k], 1e-5)) throw new Error(`${where}: step ${s + 1} task ${k} loss ${l} vs PyTorch ${precision} ${r.steps[s].taskLoss[k]}`);
            }),
          );
        }
        // Parameters and first moments: the gap is small against how far the steps moved each tensor.
        // (SGD without momentum keeps no moment: the runtime's m1 is then the last gradient, torch's absent.)
        const usesM1 = c.optimizer.kind !== 'sgd' || (c.optimizer.momentum ?? 0) > 0;
        for (const p of trainer.spec.params) {
          const moved = maxAbsDiff(f64.params[p.name], initial.get(p.name)!);
          const gap = maxAbsDiff(params.get(p.name)!, f64.params[p.name]);
          if (!(gap <= 2e-3 * moved + 1e-7)) throw new Error(`${where}: ${p.name} differs by ${gap.toExponential(2)} after steps that moved it by ${moved.toExponential(2)}`);
          if (!usesM1) continue;
          const m1Gap = maxAbsDiff(m1.get(p.name)!, f64.m1[p.name]);
          const m1Size = Math.max(...f64.m1[p.name].map(Math.abs));
          if (!(m1Gap <= 2e-3 * m1Size + 1e-7)) throw new Error(`${where}: optimizer.m1.${p.name} differs by ${m1Gap.toExponential(2)} (size ${m1Size.toExponential(2)})`);
        }
        // The runtime's checkpoint predicts the same in PyTorch, gates included.
        const K = c.config.tasks.length;
        for (let k = 0; k < K; k++) {
          for (let r = 0; r < probe.rows; r++) expect(Math.abs(inferred.predictions[k][r] - ofEnd.predictions![r * K + k]), where).toBeLessThanOrEqual(1e-5);
        }
        inferred.gates.forEach((g, j) => expect(maxAbsDiff(g, ofEnd.gates![j]), where).toBeLessThanOrEqual(1e-5));

        // PyTorch's checkpoint loads in the runtime: the same parameters, step count and predictions.
        const ckpt = readCheckpoint(new Uint8Array(readFileSync(fromPy)), fromPy);
        expect(ckpt.step).toBe(STEPS);
        for (const p of trainer.spec.params) expect(Array.from(ckpt.params.get(p.name)!), `${where}: ${p.name}`).toEqual(f32.params[p.name].map(Math.fround));
        fromPython = await trainerFromCheckpoint(ctx, ckpt, { batchSize: BATCH }, fromPy);
        const predicted = await fromPython.predict(probe.x, probe.rows, probe.categorical);
        for (let k = 0; k < K; k++) {
          for (let r = 0; r < probe.rows; r++) expect(Math.abs(predicted[k][r] - f32.predictions![r * K + k]), where).toBeLessThanOrEqual(1e-5);
        }
      } finally {
        trainer.destroy();
        fromPython?.destroy();
        rmSync(dir, { recursive: true, force: true });
      }
    }, 240_000);
  }
});
