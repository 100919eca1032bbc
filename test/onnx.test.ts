/**
 * ONNX export: the exported graph, run in ONNX Runtime (onnxruntime-web, WASM), against the
 * trainer's own predictions and gate weights on the GPU (within 1e-5) and against the float64
 * reference forward pass, for every model family; python3-onnx's checker accepts every model;
 * models the exporter cannot express are refused with an error naming the feature.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testContext } from './gpu.js';
import { caseSeed, randomArray, thrownBy } from './helpers.js';
import { checkWithOnnxChecker, runOnnx } from './onnx-runtime.js';
import { Rng } from '../src/rng.js';
import { Trainer } from '../src/trainer.js';
import { cgc, mmoe, ple, sharedBottom, singleTask, type ModelConfig, type ResolvedModelConfig } from '../src/config.js';
import { buildSpec } from '../src/spec.js';
import { referenceForward, toFloat64 } from '../src/reference/model.js';
import { exportOnnx, onnxNames, OnnxExportError } from '../src/export/onnx.js';

const tasks2 = [
  { name: 'click', type: 'binary' as const },
  { name: 'spend', type: 'regression' as const },
];
const tasks3 = [...tasks2, { name: 'like', type: 'binary' as const }];

const families: { name: string; config: ModelConfig }[] = [
  { name: 'PLE, 1 level', config: ple({ inputDim: 7, tasks: tasks2, levels: 1, taskExperts: 2, sharedExperts: 1, expertWidths: [6], towerWidths: [4] }) },
  { name: 'PLE, 2 levels', config: ple({ inputDim: 9, tasks: tasks2, levels: 2, taskExperts: 2, sharedExperts: 2, expertWidths: [8], towerWidths: [5] }) },
  { name: 'PLE, 3 levels, uneven task experts', config: ple({ inputDim: 6, tasks: tasks3, levels: 3, taskExperts: [1, 2, 3], sharedExperts: 2, expertWidths: [5], towerWidths: [3] }) },
  { name: 'CGC', config: cgc({ inputDim: 10, tasks: tasks2, taskExperts: 1, sharedExperts: 3, expertWidths: [7], towerWidths: [4] }) },
  { name: 'MMoE', config: mmoe({ inputDim: 8, tasks: tasks3, experts: 4, expertWidths: [6], towerWidths: [5] }) },
  { name: 'shared-bottom', config: sharedBottom({ inputDim: 8, tasks: tasks2, bottomWidths: [9, 6], towerWidths: [4] }) },
  { name: 'single-task', config: singleTask({ inputDim: 5, task: { name: 'spend', type: 'regression' }, bottomWidths: [6], towerWidths: [] }) },
  {
    name: 'PLE with embeddings',
    config: ple({ inputDim: 4, embeddings: [{ name: 'city', vocabulary: 11, dim: 3 }, { name: 'device', vocabulary: 5, dim: 2 }], tasks: tasks2, levels: 2, taskExperts: 1, sharedExperts: 2, expertWidths: [6], towerWidths: [3] }),
  },
  { name: 'MMoE on embeddings only', config: mmoe({ inputDim: 0, embeddings: [{ name: 'user', vocabulary: 17, dim: 4 }], tasks: tasks2, experts: 3, expertWidths: [5], towerWidths: [3] }) },
  { name: 'PLE, deeper experts and towers', config: ple({ inputDim: 6, tasks: tasks2, levels: 2, taskExperts: 2, sharedExperts: 1, expertWidths: [8, 6, 5], towerWidths: [7, 3] }) },
  { name: 'PLE with gate bias', config: ple({ inputDim: 6, tasks: tasks3, levels: 2, taskExperts: 1, sharedExperts: 2, expertWidths: [5, 4], towerWidths: [3], gateBias: true }) },
  { name: 'uncertainty weighting (a loss-only parameter)', config: cgc({ inputDim: 5, tasks: tasks2, taskExperts: 1, sharedExperts: 1, expertWidths: [4], towerWidths: [3], uncertaintyWeighting: true }) },
];

const dir = mkdtempSync(join(tmpdir(), 'ple-onnx-'));
const exported: string[] = [];
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** |got - want| <= tol * max(1, |want|) everywhere; the message names the output, row and seed. */
function expectNear(label: string, seed: number, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  expect(got.length, `${label}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= tol * Math.max(1, Math.abs(want[i])))) {
      throw new Error(`${label}[${i}]: ${got[i]} vs ${want[i]} (difference ${d.toExponential(2)} > ${tol}; seed ${seed}, rerun with PLE_TEST_SEED=${seed})`);
    }
  }
}

describe('exportOnnx in ONNX Runtime', () => {
  for (const family of families) {
    test(family.name, async () => {
      const ctx = await testContext();
      const seed = caseSeed(family.name);
      const rng = new Rng(seed);
      const trainer = await Trainer.create(ctx, family.config, { batchSize: 8, seed });
      try {
        const spec = trainer.spec;
        // Parameters of a trained-looking scale (non-zero biases, gates far from uniform).
        const params = new Map(spec.params.map((p) => [p.name, randomArray(rng, p.size, 0.6)]));
        trainer.writeParams(params);
        const rows = 21; // more than two batches, not a multiple of the batch size
        const x = randomArray(rng, rows * spec.inputDim);
        const T = spec.embeddings.length;
        const categorical = Int32Array.from({ length: rows * T }, (_, i) => Math.floor(rng.uniform() * spec.embeddings[i % T].vocabulary));
        const want = await trainer.infer(x, rows, true, T ? categorical : undefined);

        // A regression task trained on standardised targets: the graph maps its output back (value * std + mean).
        const regression = spec.config.tasks.find((t) => t.type === 'regression');
        const targets = { version: 1 as const, tasks: regression ? [{ name: regression.name, mean: 3.5, std: 2.25 }] : [] };
        const unscale = (name: string, v: number) => (targets.tasks[0]?.name === name ? v * 2.25 + 3.5 : v);
        const bytes = exportOnnx({ config: spec.config, params }, { gates: true, targets });
        const file = join(dir, `${exported.length}.onnx`);
        writeFileSync(file, bytes);
        exported.push(file);
        const indices = Object.fromEntries(spec.embeddings.map((e, t) => [e.name, Array.from({ length: rows }, (_, r) => categorical[r * T + t])]));
        const got = await runOnnx(bytes, { x: spec.inputDim ? x : undefined, inputDim: spec.inputDim, indices, rows });

        // The float64 reference: what the graph means, independently of the GPU.
        const trace = referenceForward(spec, toFloat64(params), { rows, x, labels: new Float32Array(rows * spec.numTasks), categorical });
        spec.config.tasks.forEach((task, k) => {
          expectNear(`${task.name} vs trainer.predict`, seed, got[task.name], Array.from(want.predictions[k], (v) => unscale(task.name, v)), 1e-5);
          const ref = Array.from(trace.logits[k], (z) => (task.type === 'binary' ? 1 / (1 + Math.exp(-z)) : unscale(task.name, z)));
          expectNear(`${task.name} vs the float64 reference`, seed, got[task.name], ref, 1e-5);
        });
        let gateOutputs = 0;
        spec.levels.forEach((level, j) => {
          for (const gate of level.gates) {
            const name = onnxNames.gate(j, gate.name);
            if (!gate.hasParams) {
              expect(got[name], `${name}: an identity gate has no output`).toBeUndefined();
              continue;
            }
            const n = gate.members.length;
            const mine = Array.from({ length: rows * n }, (_, i) => want.gates[j][Math.floor(i / n) * level.gateColumns + gate.column + (i % n)]);
            expectNear(name, seed, got[name], mine, 1e-5);
            gateOutputs++;
          }
        });
        expect(Object.keys(got).length).toBe(spec.numTasks + gateOutputs);

        // Without gates: the task outputs only, the same values.
        const plain = await runOnnx(exportOnnx({ config: spec.config, params }, { targets }), { x: spec.inputDim ? x : undefined, inputDim: spec.inputDim, indices, rows });
        expect(Object.keys(plain).sort()).toEqual(spec.config.tasks.map((t) => t.name).sort());
        for (const t of spec.config.tasks) expect(plain[t.name]).toEqual(got[t.name]);
      } finally {
        trainer.destroy();
      }
    });
  }

  test('python3-onnx checker accepts every exported model (opset 17, full check with shape inference)', () => {
    expect(exported.length).toBe(families.length);
    checkWithOnnxChecker(exported);
  });
});

describe('exportOnnx refuses what it cannot express', () => {
  const base = buildSpec(cgc({ inputDim: 3, tasks: tasks2, taskExperts: 1, sharedExperts: 1, expertWidths: [4], towerWidths: [2] }));
  const params = new Map(base.params.map((p) => [p.name, new Float32Array(p.size)]));
  const withConfig = (patch: (c: ResolvedModelConfig) => object) => ({ config: patch(structuredClone(base.config)) as ResolvedModelConfig, params });

  test('a config field it does not know (a layer feature from a newer trainer)', () => {
    const e = thrownBy(OnnxExportError, () => exportOnnx(withConfig((c) => ({ ...c, activation: 'gelu' }))));
    expect(e.feature).toBe('activation');
    expect(e.message).toMatch(/activation: this model feature has no ONNX translation/);
    const level = thrownBy(OnnxExportError, () => exportOnnx(withConfig((c) => ({ ...c, levels: [{ ...c.levels[0], layerNorm: true }] }))));
    expect(level.feature).toBe('levels[0].layerNorm');
  });

  test('a task type other than binary or regression', () => {
    const e = thrownBy(OnnxExportError, () => exportOnnx(withConfig((c) => ({ ...c, tasks: [c.tasks[0], { ...c.tasks[1], type: 'multiclass' }] }))));
    expect(e.feature).toBe('tasks[1].type');
    expect(e.message).toMatch(/"spend" has type "multiclass"/);
  });

  test('a missing or mis-sized parameter', () => {
    const missing = new Map(params);
    missing.delete('level0.task1.gate.weight');
    expect(thrownBy(OnnxExportError, () => exportOnnx({ config: base.config, params: missing })).message).toMatch(/level0\.task1\.gate\.weight: the checkpoint has no such parameter/);
    const short = new Map(params).set('tower.task0.layer0.weight', new Float32Array(3));
    expect(thrownBy(OnnxExportError, () => exportOnnx({ config: base.config, params: short })).message).toMatch(/tower\.task0\.layer0\.weight: the checkpoint holds 3 values, the model needs 8/);
  });

  test('a task whose name clashes with an input', () => {
    const e = thrownBy(OnnxExportError, () => exportOnnx(withConfig((c) => ({ ...c, tasks: [{ ...c.tasks[0], name: 'x' }, c.tasks[1]] }))));
    expect(e.message).toMatch(/task "x": its ONNX name "x" is already used/);
  });
});
