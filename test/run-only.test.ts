/**
 * runOnly on both engines (what the benches time the step's GEMMs alone with): it runs exactly the
 * accepted ops of the phases, on the step's own operands. After a forward pass, the activations are
 * poisoned and only the forward GEMMs run again: the first level's expert layer (a GEMM of the input)
 * comes back bit for bit, and what the skipped ops write (gate weights, mixtures) stays poisoned.
 */
import { describe, expect, it } from 'vitest';
import { ple } from '../src/config.js';
import { CpuDevice } from '../src/cpu/device.js';
import { CpuEngine } from '../src/cpu/engine.js';
import { GpuEngine } from '../src/gpu/engine.js';
import { Trainer } from '../src/trainer.js';
import { Rng } from '../src/rng.js';
import { testContext } from './gpu.js';

const config = ple({ inputDim: 13, tasks: [{ name: 'a', type: 'binary' }, { name: 'b', type: 'binary' }], levels: 2, taskExperts: 1, sharedExperts: 2, expertWidths: [9], towerWidths: [5] });
const B = 7;

describe('runOnly', () => {
  for (const device of ['cpu', 'gpu'] as const) {
    it(`runs only the accepted ops, on the step's operands (${device})`, async () => {
      const seed = 20261129;
      const rng = new Rng(seed);
      const trainer = await Trainer.create(device === 'cpu' ? await CpuDevice.create({ threads: 1 }) : await testContext(), config, { batchSize: B, seed });
      try {
        const batch = {
          rows: B,
          x: Float32Array.from({ length: B * 13 }, () => rng.normal()),
          labels: Float32Array.from({ length: B * 2 }, () => (rng.uniform() < 0.5 ? 1 : 0)),
        };
        await trainer.evaluate(batch);
        const experts = await trainer.readActivation('level0.layer0');
        const size = trainer.engine.activations.size;
        trainer.engine.write('act', 0, new Float32Array(size).fill(NaN));
        const isGemm = (op: { kernel: string }) => op.kernel === 'batched_gemm';
        const engine = trainer.engine;
        if (engine instanceof CpuEngine) engine.runOnly(['forward'], isGemm);
        else if (engine instanceof GpuEngine) await engine.runOnly(['forward'], isGemm);
        else throw new Error('an engine of neither device');
        const again = await trainer.readActivation('level0.layer0');
        expect(experts.some((v) => v !== 0), `seed ${seed}`).toBe(true);
        expect(Array.from(again), `seed ${seed}`).toEqual(Array.from(experts));
        for (const skipped of ['level0.gates', 'level0.out', 'level1.gates']) {
          expect((await trainer.readActivation(skipped)).every(Number.isNaN), `${skipped} was written, seed ${seed}`).toBe(true);
        }
      } finally {
        trainer.destroy();
      }
    });
  }
});
