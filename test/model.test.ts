/**
 * The whole forward and backward pass on the GPU, and on the CPU device, against the float64
 * reference: outputs, losses and every parameter gradient, for the model families and random
 * configurations, with NaN-poisoned buffers proving every element is written.
 */
import { describe, expect, it } from 'vitest';
import { cgc, mmoe, ple, sharedBottom, singleTask, type ModelConfig } from '../src/config.js';
import { Trainer, type Batch } from '../src/trainer.js';
import { buildSpec as spec } from '../src/spec.js';
import { referenceGradients, toFloat64 } from '../src/reference/model.js';
import { Rng } from '../src/rng.js';
import { caseSeed, countPoolDispatches, excludeNearKinks, expectClose, withSeed } from './helpers.js';
import { noSubgroupsContext, testContext } from './gpu.js';
import type { GpuContext } from '../src/gpu/context.js';
import { CpuDevice } from '../src/cpu/device.js';
import { CpuEngine } from '../src/cpu/engine.js';
import type { ModelSpec } from '../src/spec.js';
import type { GemmTuningChooser } from '../src/kernels/batched_gemm.js';

const TOL = 1e-4;

function randomBatch(spec: ModelSpec, rng: Rng, rows: number, maskRate: number): Batch {
  const K = spec.numTasks;
  const x = Array.from({ length: rows * spec.inputDim }, () => rng.normal());
  const mask = Array.from({ length: rows * K }, () => (rng.uniform() < maskRate ? 0 : 1));
  const labels = Array.from({ length: rows * K }, (_, i) => {
    if (mask[i] === 0) return NaN; // a missing label: never read
    return spec.config.tasks[i % K].type === 'binary' ? (rng.uniform() < 0.5 ? 1 : 0) : rng.normal();
  });
  // Small index ranges so table rows repeat within a batch (their gradients must add up).
  const T = spec.embeddings.length;
  const categorical = Array.from({ length: rows * T }, (_, i) => rng.int(0, Math.min(3, spec.embeddings[i % T].vocabulary - 1)));
  return { rows, x, labels, mask, categorical };
}

function randomConfig(rng: Rng): ModelConfig {
  const K = rng.int(1, 3);
  const levels = rng.int(1, 3);
  return {
    inputDim: rng.int(1, 9),
    tasks: Array.from({ length: K }, (_, k) => ({ name: `t${k}`, type: rng.uniform() < 0.5 ? 'binary' : 'regression', weight: rng.range(0.2, 2) })),
    levels: Array.from({ length: levels }, () => {
      const shared = rng.int(0, 2);
      return {
        taskExperts: Array.from({ length: K }, () => rng.int(shared === 0 ? 1 : 0, 2)),
        sharedExperts: shared,
        expertWidths: Array.from({ length: rng.int(1, 2) }, () => rng.int(1, 7)),
      };
    }),
    towerWidths: Array.from({ length: rng.int(0, 2) }, () => rng.int(1, 6)),
    gateBias: rng.uniform() < 0.5,
    embeddings: Array.from({ length: rng.int(0, 2) }, (_, t) => ({ name: `c${t}`, vocabulary: rng.int(1, 9), dim: rng.int(1, 5) })),
  };
}

const tasks2 = [
  { name: 'ctr', type: 'binary' as const, weight: 1 },
  { name: 'watch', type: 'regression' as const, weight: 0.5 },
];

/** Named cases: each model family, batch 1, sizes that are no multiple of any tile. */
const named: Record<string, { config: ModelConfig; batch: number; rows: number }> = {
  'shared-bottom': { config: sharedBottom({ inputDim: 7, tasks: tasks2, bottomWidths: [11, 5], towerWidths: [3] }), batch: 13, rows: 13 },
  'single-task': { config: singleTask({ inputDim: 5, task: { name: 'y', type: 'binary' }, bottomWidths: [9], towerWidths: [4] }), batch: 10, rows: 7 },
  MMoE: { config: mmoe({ inputDim: 6, tasks: tasks2, experts: 3, expertWidths: [5], towerWidths: [4] }), batch: 17, rows: 17 },
  CGC: { config: cgc({ inputDim: 9, tasks: tasks2, taskExperts: 2, sharedExperts: 1, expertWidths: [6], towerWidths: [3], gateBias: true }), batch: 19, rows: 19 },
  'PLE 2 levels': {
    config: ple({ inputDim: 10, tasks: [...tasks2, { name: 'like', type: 'binary', weight: 2 }], levels: 2, taskExperts: 1, sharedExperts: 2, expertWidths: [7, 5], towerWidths: [6] }),
    batch: 33,
    rows: 33,
  },
  'PLE 3 levels': { config: ple({ inputDim: 5, tasks: tasks2, levels: 3, taskExperts: [2, 1], sharedExperts: 1, expertWidths: [6], towerWidths: [] }), batch: 21, rows: 21 },
  'PLE with uncertainty weighting': {
    config: ple({ inputDim: 6, tasks: tasks2, levels: 2, taskExperts: 1, sharedExperts: 1, expertWidths: [5], towerWidths: [3], uncertaintyWeighting: true }),
    batch: 15,
    rows: 15,
  },
  'PLE batch 1': { config: ple({ inputDim: 4, tasks: tasks2, levels: 2, taskExperts: 2, sharedExperts: 2, expertWidths: [3], towerWidths: [2] }), batch: 1, rows: 1 },
  'PLE padded partial batch': { config: ple({ inputDim: 6, tasks: tasks2, levels: 2, taskExperts: 1, sharedExperts: 1, expertWidths: [5], towerWidths: [3] }), batch: 70, rows: 37 },
  'PLE with embeddings': {
    config: ple({
      inputDim: 3,
      embeddings: [
        { name: 'city', vocabulary: 7, dim: 4 },
        { name: 'device', vocabulary: 3, dim: 2 },
      ],
      tasks: tasks2, levels: 2, taskExperts: 1, sharedExperts: 1, expertWidths: [5], towerWidths: [3],
    }),
    batch: 23,
    rows: 19,
  },
  'MMoE on embeddings only': {
    config: mmoe({ inputDim: 0, embeddings: [{ name: 'item', vocabulary: 11, dim: 6 }], tasks: tasks2, experts: 2, expertWidths: [4], towerWidths: [] }),
    batch: 9,
    rows: 9,
  },
  'PLE sizes past one tile': { config: ple({ inputDim: 37, tasks: tasks2, levels: 2, taskExperts: 2, sharedExperts: 3, expertWidths: [35], towerWidths: [33] }), batch: 67, rows: 67 },
};

async function checkAgainstReference(
  label: string, seed: number, config: ModelConfig, batchSize: number, rows: number, maskRate = 0.2, gemmTuning?: GemmTuningChooser, taskWeights?: number[],
  { device = testContext, fuseGateMixture }: { device?: () => Promise<GpuContext | CpuDevice>; fuseGateMixture?: boolean } = {},
) {
  const ctx = await device();
  const rng = new Rng(seed);
  const trainer = await Trainer.create(ctx, config, { batchSize, seed, gemmTuning, fuseGateMixture });
  if (fuseGateMixture) {
    const fused = trainer.engine instanceof CpuEngine
      ? trainer.engine.step.ops.forward.filter((op) => op.kernel === 'gate_mixture')
      : trainer.plan.forward.filter((op) => op.kind === 'dispatch' && op.dispatch.kernel === 'gate_mixture');
    expect(fused).toHaveLength(spec(config).levels.length);
  }
  // On several threads the work must really be split: the pool dispatches.
  const dispatches = ctx instanceof CpuDevice && ctx.threads > 1 ? countPoolDispatches(trainer.engine) : undefined;
  try {
    const spec = trainer.spec;
    // Random biases too, so every term of every layer is exercised.
    const params = await trainer.readParams();
    for (const [name, t] of params) if (name.endsWith('.bias') || name === 'loss.log_variance') for (let i = 0; i < t.length; i++) t[i] = 0.2 * rng.normal();
    trainer.writeParams(params);
    const { batch, excluded } = excludeNearKinks(spec, toFloat64(params), randomBatch(spec, rng, rows, maskRate));
    if (excluded.length) console.log(`${label}: rows ${excluded.join(', ')} have a ReLU pre-activation within f32 rounding of zero; masked out (seed ${seed})`);

    // Poison every activation and gradient: whatever the step does not write stays NaN.
    trainer.engine.write('act', 0, new Float32Array(trainer.engine.activations.size).fill(NaN));
    trainer.engine.write('grads', 0, new Float32Array(trainer.engine.params.size).fill(NaN));

    // Dynamic weighting (w_k gamma_k^t) reaches the GPU through setTaskWeights, between steps.
    if (taskWeights) trainer.setTaskWeights(taskWeights);
    const result = await trainer.computeGradients(batch);
    if (dispatches) expect(dispatches(), `${label}: pool dispatches on ${(ctx as CpuDevice).threads} threads`).toBeGreaterThan(0);
    const ref = referenceGradients(spec, toFloat64(params), batch, taskWeights);

    expectClose(`${label}: task losses`, seed, result.taskLoss, ref.loss.taskLoss, TOL);
    expect(result.taskCount).toEqual(ref.loss.taskCount);
    const weights = taskWeights ?? spec.config.tasks.map((t) => t.weight);
    const weightedTotal = ref.loss.taskLoss.reduce((a, l, k) => a + weights[k] * l, 0);
    expectClose(`${label}: total loss`, seed, [result.total], [weightedTotal], TOL);

    const B = batchSize;
    const logits = await trainer.readActivation(`tower.layer${spec.towerDims.length - 1}`);
    for (let k = 0; k < spec.numTasks; k++) {
      expectClose(`${label}: logits of task ${k}`, seed, logits.subarray(k * B, k * B + rows), ref.trace.logits[k], TOL);
    }
    for (const level of spec.levels) {
      const gates = await trainer.readActivation(`level${level.index}.gates`);
      const out = await trainer.readActivation(`level${level.index}.out`);
      level.gates.forEach((gate, gi) => {
        const n = gate.members.length;
        const got: number[] = [];
        for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) got.push(gates[r * level.gateColumns + gate.column + i]);
        expectClose(`${label}: level ${level.index} gate ${gate.name} weights`, seed, got, ref.trace.levels[level.index].gates[gi], TOL);
        const d = level.outDim;
        expectClose(`${label}: level ${level.index} output ${gate.name}`, seed, out.subarray(gi * B * d, gi * B * d + rows * d), ref.trace.levels[level.index].outputs[gi], TOL);
      });
    }

    const grads = await trainer.readGradients();
    // A gradient that is a sum of terms of both signs (a bias summed over the batch) can cancel to far
    // below its terms, and f32 summation error scales with the terms, not the sum (seen: a final-layer
    // bias gradient of 4.8e-5 summed from 37 terms of ~1e-2, off by 3e-8). So each tensor is held to
    // 1e-4 of its own norm, or of 10% of the model's typical gradient norm if that is larger.
    let sumSq = 0;
    let count = 0;
    for (const g of ref.grads.values()) for (const v of g) (sumSq += v * v), count++;
    const typical = Math.sqrt(sumSq / count);
    for (const p of spec.params) {
      const got = grads.get(p.name)!;
      const want = ref.grads.get(p.name)!;
      expect(got.every(Number.isFinite), `${label}: gradient ${p.name} has unwritten (NaN) elements (seed ${seed})`).toBe(true);
      const scale = Math.max(Math.hypot(...want), 0.1 * typical * Math.sqrt(want.length));
      // (A batch whose every label is masked has all-zero gradients: then they must be exactly zero.)
      const diff = Math.hypot(...want.map((w, i) => got[i] - w));
      const err = scale > 0 ? diff / scale : diff;
      if (!(err <= TOL)) throw new Error(`${label}: gradient ${p.name}: relative error ${err.toExponential(3)} > ${TOL} (seed ${seed}; rerun with PLE_TEST_SEED=${seed})`);
    }
  } finally {
    trainer.destroy();
  }
}

// A pre-activation within f32 rounding of zero may take the other side of the ReLU than in float64,
// changing that sample's share of a gradient: the reference reports such rows and the batch masks
// them out (excludeNearKinks). Every failure names its seed; PLE_TEST_SEED replays it.
describe('forward and backward against the float64 reference', () => {
  for (const [label, c] of Object.entries(named)) {
    it(label, async () => {
      const seed = caseSeed(label);
      await withSeed(seed, () => checkAgainstReference(label, seed, c.config, c.batch, c.rows));
    });
  }
  it('PLE with dynamic task weights set through setTaskWeights', async () => {
    const c = named['PLE 2 levels'];
    const seed = caseSeed('dynamic task weights');
    // w_k gamma_k^t at epoch t = 3 with gamma = (0.5, 1.2, 0.9): weights far from the config's (1, 0.5, 2).
    const weights = c.config.tasks.map((t, k) => (t.weight ?? 1) * [0.5, 1.2, 0.9][k] ** 3);
    await withSeed(seed, () => checkAgainstReference('dynamic task weights', seed, c.config, c.batch, c.rows, 0.2, undefined, weights));
  });
  it('PLE with uncertainty weighting and dynamic task weights', async () => {
    const c = named['PLE with uncertainty weighting'];
    const seed = caseSeed('uncertainty and dynamic task weights');
    await withSeed(seed, () => checkAgainstReference('uncertainty and dynamic task weights', seed, c.config, c.batch, c.rows, 0.2, undefined, [0.3, 1.7]));
  });
  // The test adapter has subgroups, so the tests above ran the reductions' subgroup path (src/reductions.ts).
  it('PLE 2 levels on a device without subgroups (the reductions take the plain path)', async () => {
    const c = named['PLE 2 levels'];
    const seed = caseSeed('without subgroups');
    await withSeed(seed, () => checkAgainstReference('without subgroups', seed, c.config, c.batch, c.rows, 0.2, undefined, undefined, { device: noSubgroupsContext }));
  });
  it('PLE 2 levels with each level\'s gate softmax and mixtures fused (gate_mixture)', async () => {
    const c = named['PLE 2 levels'];
    const seed = caseSeed('gate_mixture');
    await withSeed(seed, () => checkAgainstReference('gate_mixture', seed, c.config, c.batch, c.rows, 0.2, undefined, undefined, { fuseGateMixture: true }));
  });
  it('PLE with a different GEMM tuning per dispatch', async () => {
    const c = named['PLE 2 levels'];
    // Dispatches get register tiles of different shapes and vector widths, or workgroup-memory tiles.
    const choose: GemmTuningChooser = (gemm) =>
      [
        { tileM: 3, tileN: 4, vecN: 4, wgX: 4, wgY: 8 },
        { tileM: 2, tileN: 2, wgX: 16, wgY: 4 },
        { tileM: 1, tileN: 1, wgX: 8, wgY: 8, workgroupMemory: true },
      ][gemm.entries[0].k % 3];
    const seed = caseSeed('per-dispatch tuning');
    await withSeed(seed, () => checkAgainstReference('per-dispatch tuning', seed, c.config, c.batch, c.rows, 0.2, choose));
  });
  for (let i = 0; i < 6; i++) {
    it(`random config #${i + 1}`, async () => {
      const seed = caseSeed(`random ${i}`);
      const rng = new Rng(seed ^ 0x5bd1e995);
      const config = randomConfig(rng);
      const batch = rng.int(1, 40);
      try {
        await withSeed(seed, () => checkAgainstReference(`random #${i + 1}`, seed, config, batch, rng.int(1, batch), rng.range(0, 0.5)));
      } catch (e) {
        // The config is drawn from the seed: PLE_TEST_SEED replays this config too.
        (e as Error).message += `\nconfig: ${JSON.stringify(config)}`;
        throw e;
      }
    });
  }
});

// The CPU device runs the same op lists with its own kernels (src/cpu/): the same cases, the same
// tolerance; on 1 thread, and on 3 threads with every GEMM split over them however small.
for (const [threads, onThreads, options] of [
  [1, '', { threads: 1 }],
  [3, ' on 3 threads', { threads: 3, minFlopsPerThread: 0 }],
] as const) describe(`forward and backward on the CPU device${onThreads} against the float64 reference`, () => {
  const cpu = async () => {
    const device = await CpuDevice.create(options);
    expect(device.threads).toBe(threads);
    return device;
  };
  for (const [label, c] of Object.entries(named)) {
    it(label, async () => {
      const seed = caseSeed(`cpu ${label}`);
      await withSeed(seed, () => checkAgainstReference(`cpu ${label}`, seed, c.config, c.batch, c.rows, 0.2, undefined, undefined, { device: cpu }));
    });
  }
  it('PLE with uncertainty weighting and dynamic task weights', async () => {
    const c = named['PLE with uncertainty weighting'];
    const seed = caseSeed('cpu uncertainty and dynamic task weights');
    await withSeed(seed, () => checkAgainstReference('cpu uncertainty and dynamic task weights', seed, c.config, c.batch, c.rows, 0.2, undefined, [0.3, 1.7], { device: cpu }));
  });
  it('PLE 2 levels with each level\'s gate softmax and mixtures fused (gate_mixture)', async () => {
    const c = named['PLE 2 levels'];
    const seed = caseSeed('cpu gate_mixture');
    await withSeed(seed, () => checkAgainstReference('cpu gate_mixture', seed, c.config, c.batch, c.rows, 0.2, undefined, undefined, { device: cpu, fuseGateMixture: true }));
  });
  for (let i = 0; i < 6; i++) {
    it(`random config #${i + 1}`, async () => {
      const seed = caseSeed(`cpu random ${i}`);
      const rng = new Rng(seed ^ 0x5bd1e995);
      const config = randomConfig(rng);
      const batch = rng.int(1, 40);
      try {
        await withSeed(seed, () => checkAgainstReference(`cpu random #${i + 1}`, seed, config, batch, rng.int(1, batch), rng.range(0, 0.5), undefined, undefined, { device: cpu }));
      } catch (e) {
        (e as Error).message += `\nconfig: ${JSON.stringify(config)}`;
        throw e;
      }
    });
  }
});
