/**
 * A soak run: many training steps over repeated plan creations, tracking the GPU
 * buffers and bytes the context holds. Used by the leak test and bench/soak.ts.
 */
import type { GpuContext } from '../gpu/context.js';
import type { ModelConfig } from '../config.js';
import { Trainer } from '../trainer.js';
import { Rng } from '../rng.js';

export interface SoakReport {
  plans: number;
  steps: number;
  before: { buffers: number; bytes: number };
  /** While a plan trains: the same after its first steps and after its last. */
  during: { buffers: number; bytes: number }[];
  after: { buffers: number; bytes: number };
  finalLoss: number;
}

export async function soak(ctx: GpuContext, config: ModelConfig, options: { plans: number; stepsPerPlan: number; batchSize: number }): Promise<SoakReport> {
  ctx.placeholderBuffer; // created once per context, not per plan
  const snapshot = () => ({ buffers: ctx.liveBufferCount, bytes: ctx.liveBytes });
  const before = snapshot();
  const during: SoakReport['during'] = [];
  const rng = new Rng(7);
  const K = config.tasks.length;
  const batch = {
    rows: options.batchSize,
    x: Float32Array.from({ length: options.batchSize * config.inputDim }, () => rng.normal()),
    labels: Float32Array.from({ length: options.batchSize * K }, (_, i) => (config.tasks[i % K].type === 'binary' ? (rng.uniform() < 0.5 ? 1 : 0) : rng.normal())),
  };
  let steps = 0;
  let finalLoss = NaN;
  for (let p = 0; p < options.plans; p++) {
    const trainer = await Trainer.create(ctx, config, { batchSize: options.batchSize, seed: p });
    try {
      for (let s = 0; s < options.stepsPerPlan; s++) {
        const r = await trainer.step(batch);
        finalLoss = r.total;
        steps++;
        if (s === 1) during.push(snapshot());
      }
      during.push(snapshot());
      await trainer.predict(batch.x, batch.rows);
    } finally {
      trainer.destroy();
    }
  }
  return { plans: options.plans, steps, before, during, after: snapshot(), finalLoss };
}
