/** The float64 reference checked against central finite differences of its own loss. */
import { describe, expect, it } from 'vitest';
import { buildSpec, type ModelSpec } from '../src/spec.js';
import type { ModelConfig } from '../src/config.js';
import { referenceForward, referenceGradients, referenceLoss, toFloat64, type Tensors64 } from '../src/reference/model.js';
import type { Batch } from '../src/data/batch.js';
import { initParams } from '../src/init.js';
import { Rng } from '../src/rng.js';
import { caseSeed } from './helpers.js';

function randomBatch(spec: ModelSpec, rng: Rng, rows: number): Batch {
  const K = spec.numTasks;
  const x = Array.from({ length: rows * spec.inputDim }, () => rng.normal());
  const labels = Array.from({ length: rows * K }, (_, i) =>
    spec.config.tasks[i % K].type === 'binary' ? (rng.uniform() < 0.5 ? 1 : 0) : rng.normal(),
  );
  const mask = Array.from({ length: rows * K }, () => (rng.uniform() < 0.8 ? 1 : 0));
  // Rows repeat on purpose: gradients of a table row looked up twice must add.
  const categorical = Array.from({ length: rows * spec.embeddings.length }, (_, i) => rng.int(0, Math.min(2, spec.embeddings[i % spec.embeddings.length].vocabulary - 1)));
  return { rows, x, labels, mask, categorical };
}

function randomizeBiases(params: Tensors64, rng: Rng) {
  for (const [name, t] of params) if (name.endsWith('.bias') || name === 'loss.log_variance') for (let i = 0; i < t.length; i++) t[i] = 0.3 * rng.normal();
}

const configs: Record<string, ModelConfig> = {
  'PLE 2 levels, 2-layer experts, gate bias': {
    inputDim: 5,
    tasks: [
      { name: 'a', type: 'binary', weight: 0.7 },
      { name: 'b', type: 'regression', weight: 1.3 },
    ],
    levels: [
      { taskExperts: [2, 1], sharedExperts: 2, expertWidths: [4, 3] },
      { taskExperts: 1, sharedExperts: 2, expertWidths: [3] },
    ],
    towerWidths: [3],
    gateBias: true,
    uncertaintyWeighting: true,
  },
  'PLE with embeddings, CGC-style shared experts only in level 2': {
    inputDim: 3,
    embeddings: [
      { name: 'city', vocabulary: 4, dim: 2 },
      { name: 'device', vocabulary: 3, dim: 3 },
    ],
    tasks: [
      { name: 'a', type: 'binary' },
      { name: 'b', type: 'binary', weight: 2 },
    ],
    levels: [
      { taskExperts: 1, sharedExperts: 1, expertWidths: [4] },
      { taskExperts: 0, sharedExperts: 2, expertWidths: [3] },
    ],
    towerWidths: [2],
  },
  'shared-bottom': {
    inputDim: 4,
    tasks: [
      { name: 'a', type: 'binary' },
      { name: 'b', type: 'binary' },
    ],
    levels: [{ taskExperts: 0, sharedExperts: 1, expertWidths: [5] }],
    towerWidths: [],
  },
};

describe('float64 reference', () => {
  for (const [label, config] of Object.entries(configs)) {
    it(`matches central finite differences: ${label}`, () => {
      const seed = caseSeed(label);
      const rng = new Rng(seed);
      const spec = buildSpec(config);
      const params = toFloat64(initParams(spec, seed));
      randomizeBiases(params, rng);
      const batch = randomBatch(spec, rng, 6);
      const { grads } = referenceGradients(spec, params, batch);
      const logVariance = spec.config.uncertaintyWeighting ? params.get('loss.log_variance') : undefined;
      const lossAt = () => referenceLoss(spec, referenceForward(spec, params, batch).logits, batch, undefined, logVariance).total;
      const h = 1e-6;
      let checked = 0;
      for (const [name, t] of params) {
        const g = grads.get(name)!;
        for (let i = 0; i < t.length; i++) {
          const keep = t[i];
          t[i] = keep + h;
          const up = lossAt();
          t[i] = keep - h;
          const down = lossAt();
          t[i] = keep;
          const fd = (up - down) / (2 * h);
          // ReLU kinks make single entries non-differentiable; with random data they are measure-zero.
          expect(Math.abs(fd - g[i]), `${name}[${i}] seed ${seed}`).toBeLessThan(1e-6 + 1e-5 * Math.abs(fd));
          checked++;
        }
      }
      expect(checked).toBe(spec.params.reduce((a, p) => a + p.size, 0));
    });
  }
});
