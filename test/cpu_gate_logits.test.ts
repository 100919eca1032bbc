/**
 * src/cpu/gate-logits.ts: the CPU device computes a gate's logits inside the GEMM op that reads the
 * same input. Such a step must give bit for bit what the step with each gate computing its own
 * logits gives (the same kernel on the same operands), on 1 thread and on 3 threads splitting every
 * GEMM; every gate with params of these models (PLE's levels, CGC, MMoE) is fused, so the GEMM ops
 * take exactly the gates' logit FLOPs more. Against the float64 reference the fused step is checked
 * by the CPU cases of test/model.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { mmoe, ple, type ModelConfig } from '../src/config.js';
import { CpuEngine } from '../src/cpu/engine.js';
import { Rng } from '../src/rng.js';
import { buildSpec } from '../src/spec.js';
import { caseSeed, withSeed } from './helpers.js';

const tasks = [
  { name: 'a', type: 'binary' as const },
  { name: 'b', type: 'regression' as const },
];
const configs: Record<string, ModelConfig> = {
  'PLE 2 levels, gate biases': ple({ inputDim: 13, tasks, levels: 2, taskExperts: 2, sharedExperts: 1, expertWidths: [9, 7], towerWidths: [5], gateBias: true }),
  CGC: ple({ inputDim: 6, tasks, levels: 1, taskExperts: 1, sharedExperts: 2, expertWidths: [8], towerWidths: [] }),
  MMoE: mmoe({ inputDim: 7, tasks, experts: 3, expertWidths: [6], towerWidths: [4], gateBias: true }),
  'PLE with embeddings': ple({ inputDim: 5, embeddings: [{ name: 'city', vocabulary: 9, dim: 3 }], tasks, levels: 2, taskExperts: 1, sharedExperts: 2, expertWidths: [6], towerWidths: [4] }),
  // No task experts: no expert reads a task's input above level 0, so those task gates compute their own logits.
  'PLE without task experts, 6 tasks': ple({ inputDim: 3, tasks: Array.from({ length: 6 }, (_, k) => ({ name: `t${k}`, type: 'binary' as const })), levels: 2, taskExperts: 0, sharedExperts: 5, expertWidths: [8], towerWidths: [] }),
};
/** The configs some of whose gates have no GEMM op to fuse into. */
const partlyFused = new Set(['PLE without task experts, 6 tasks']);

describe('CPU gate logits inside the GEMM op of the same input', () => {
  for (const [label, config] of Object.entries(configs)) {
    for (const threads of [1, 3]) {
      it(`${label} on ${threads} thread${threads > 1 ? 's' : ''}: bit for bit the unfused step`, async () => {
        const seed = caseSeed(`cpu gate logits ${label} ${threads}`);
        await withSeed(seed, async () => {
          const spec = buildSpec(config);
          const rng = new Rng(seed);
          // Batch 1 too: there the gates' logits, not the backward products, need the most GEMM scratch.
          for (const B of [1, rng.int(2, 37)]) {
            const options = { batchSize: B, threads, minFlopsPerThread: 0 };
            const engines = [await CpuEngine.create(spec, { ...options, fuseGateLogits: false }), await CpuEngine.create(spec, options)];
            try {
              const params = Float32Array.from({ length: engines[0].params.size }, () => 0.5 * rng.normal());
              const rows = rng.int(1, B);
              const T = spec.embeddings.length;
              const batch = {
                rows,
                x: Float32Array.from({ length: rows * spec.inputDim }, () => rng.normal()),
                labels: Float32Array.from({ length: rows * spec.numTasks }, () => (rng.uniform() < 0.5 ? 1 : 0)),
                categorical: T ? Array.from({ length: rows * T }, () => rng.int(0, 8)) : undefined,
              };
              const out: { act: Uint32Array; grads: Uint32Array }[] = [];
              for (const engine of engines) {
                engine.write('params', 0, params);
                engine.setTaskWeights(spec.config.tasks.map((t) => t.weight));
                engine.writeBatch(batch);
                await engine.run(['forward', 'loss', 'backward'], []);
                out.push({
                  act: new Uint32Array((await engine.read({ role: 'act', offset: 0, size: engine.activations.size })).buffer),
                  grads: new Uint32Array((await engine.read({ role: 'grads', offset: 0, size: engine.params.size })).buffer),
                });
              }
              const gateFlops = spec.levels.flatMap((l) => l.gates.filter((g) => g.hasParams).map((g) => 2 * B * g.members.length * l.inDim)).reduce((a, b) => a + b, 0);
              expect(gateFlops).toBeGreaterThan(0);
              const fusedFlops = engines[1].gemmOpFlops() - engines[0].gemmOpFlops();
              if (!partlyFused.has(label)) expect(fusedFlops, 'the GEMM ops take every gate\'s logits').toBe(gateFlops);
              else expect(fusedFlops > 0 && fusedFlops < gateFlops, `the GEMM ops take some gates' logits: ${fusedFlops} of ${gateFlops} FLOPs`).toBe(true);
              for (const key of ['act', 'grads'] as const) {
                const i = out[0][key].findIndex((v, j) => v !== out[1][key][j]);
                if (i >= 0) throw new Error(`${key}[${i}] differs: ${new Float32Array(out[1][key].buffer)[i]} fused, ${new Float32Array(out[0][key].buffer)[i]} not (seed ${seed})`);
              }
            } finally {
              for (const e of engines) e.destroy();
            }
          }
        });
      });
    }
  }
});
