/** No leaks: plans created and destroyed over many steps leave the context's buffers and bytes as they were. Repeatability. */
import { describe, expect, it } from 'vitest';
import { ple } from '../src/config.js';
import { soak } from '../src/training/soak.js';
import { Trainer } from '../src/trainer.js';
import { Rng } from '../src/rng.js';
import { testContext } from './gpu.js';

const tasks = [
  { name: 'a', type: 'binary' as const },
  { name: 'b', type: 'regression' as const },
];
const config = ple({ inputDim: 6, tasks, levels: 2, taskExperts: 1, sharedExperts: 1, expertWidths: [8], towerWidths: [4] });

describe('soak', () => {
  it('buffers and bytes return to where they were after every plan; constant while training', async () => {
    const ctx = await testContext();
    const r = await soak(ctx, config, { plans: 6, stepsPerPlan: 40, batchSize: 32 });
    console.log(`soak: ${r.plans} plans, ${r.steps} steps; before ${r.before.buffers} buffers / ${r.before.bytes} bytes, after ${r.after.buffers} / ${r.after.bytes}`);
    expect(r.after).toEqual(r.before);
    for (let p = 0; p < r.plans; p++) expect(r.during[2 * p + 1], `plan ${p}`).toEqual(r.during[2 * p]);
    expect(Number.isFinite(r.finalLoss)).toBe(true);
  });

  it('the same seed on the same adapter gives the same loss curve', async () => {
    const ctx = await testContext();
    const curve = async () => {
      const trainer = await Trainer.create(ctx, config, { batchSize: 16, seed: 11 });
      const rng = new Rng(3);
      const losses: number[] = [];
      for (let s = 0; s < 20; s++) {
        const x = Array.from({ length: 16 * 6 }, () => rng.normal());
        const labels = Array.from({ length: 32 }, (_, i) => (i % 2 === 0 ? (rng.uniform() < 0.5 ? 1 : 0) : rng.normal()));
        losses.push((await trainer.step({ rows: 16, x, labels })).total);
      }
      trainer.destroy();
      return losses;
    };
    const [a, b] = [await curve(), await curve()];
    expect(b).toEqual(a);
    expect(a[19]).toBeLessThan(a[0]);
  });
});
