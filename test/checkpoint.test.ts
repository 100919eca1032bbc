/** Checkpoints: round trip, resume equivalence, and refusing the wrong file. */
import { describe, expect, it } from 'vitest';
import { ple, mmoe } from '../src/config.js';
import { Trainer, type Batch } from '../src/trainer.js';
import { checkpointBytes, loadCheckpoint, readCheckpoint, trainerFromCheckpoint } from '../src/checkpoint/checkpoint.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors } from '../src/checkpoint/safetensors.js';
import { Rng } from '../src/rng.js';
import { caseSeed } from './helpers.js';
import { testContext } from './gpu.js';

const tasks = [
  { name: 'a', type: 'binary' as const },
  { name: 'b', type: 'regression' as const },
];
const config = ple({ inputDim: 5, tasks, levels: 2, taskExperts: 1, sharedExperts: 2, expertWidths: [6], towerWidths: [3], gateBias: true });

function batches(seed: number, n: number): Batch[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => ({
    rows: 16,
    x: Array.from({ length: 80 }, () => rng.normal()),
    labels: Array.from({ length: 32 }, (_, i) => (i % 2 === 0 ? (rng.uniform() < 0.5 ? 1 : 0) : rng.normal())),
  }));
}

describe('checkpoints', () => {
  it('round-trips: a loaded checkpoint predicts identically', async () => {
    const ctx = await testContext();
    const seed = caseSeed('checkpoint round trip');
    const a = await Trainer.create(ctx, config, { batchSize: 16, seed });
    for (const b of batches(seed, 3)) await a.step(b);
    const data = { kind: 'synthetic' as const, options: { inputDim: 5, correlation: 0.5, trainRows: 48, validationRows: 0, testRows: 0, seed } };
    const bytes = await checkpointBytes(a, { training: { epoch: 3, history: [] }, data });
    const ckpt = readCheckpoint(bytes);
    expect(ckpt.step).toBe(3);
    expect(ckpt.training).toEqual({ epoch: 3, history: [] });
    expect(ckpt.data).toEqual(data);
    const b = await trainerFromCheckpoint(ctx, ckpt, { batchSize: 8 });
    const x = batches(seed + 1, 1)[0].x;
    const [pa, pb] = [await a.predict(x, 16), await b.predict(x, 16)];
    expect(pb).toEqual(pa);
    expect(await b.readParams()).toEqual(await a.readParams());
    a.destroy();
    b.destroy();
  });

  it('resuming from a checkpoint gives the same parameters as an uninterrupted run', async () => {
    const ctx = await testContext();
    const seed = caseSeed('resume');
    const data = batches(seed, 8);
    const straight = await Trainer.create(ctx, config, { batchSize: 16, seed, optimizer: { kind: 'adamw', lr: 0.01, weightDecay: 0.01 } });
    for (const b of data) await straight.step(b);

    const first = await Trainer.create(ctx, config, { batchSize: 16, seed, optimizer: { kind: 'adamw', lr: 0.01, weightDecay: 0.01 } });
    for (const b of data.slice(0, 4)) await first.step(b);
    const ckpt = readCheckpoint(await checkpointBytes(first));
    first.destroy();
    const resumed = await trainerFromCheckpoint(ctx, ckpt, { batchSize: 16 });
    for (const b of data.slice(4)) await resumed.step(b);
    expect(resumed.steps).toBe(8);
    // Same adapter, same kernels, same inputs: bit-identical.
    expect(await resumed.readParams()).toEqual(await straight.readParams());
    straight.destroy();
    resumed.destroy();
  });

  it('refuses a checkpoint of another model, a truncated file and a foreign safetensors file', async () => {
    const ctx = await testContext();
    const a = await Trainer.create(ctx, config, { batchSize: 4 });
    const other = await Trainer.create(ctx, mmoe({ inputDim: 5, tasks, experts: 2, expertWidths: [4], towerWidths: [] }), { batchSize: 4 });
    const bytes = await checkpointBytes(a);
    const before = await other.readParams();
    expect(() => loadCheckpoint(other, readCheckpoint(bytes, 'a.safetensors'), 'a.safetensors')).toThrow(/a.safetensors: checkpoint is for another model/);
    // Nothing was loaded.
    expect(await other.readParams()).toEqual(before);
    expect(() => readCheckpoint(bytes.subarray(0, bytes.length >> 1), 'half.safetensors')).toThrow(CheckpointError);
    expect(() => readCheckpoint(bytes.subarray(0, bytes.length >> 1), 'half.safetensors')).toThrow(/half.safetensors: .*truncated/);
    expect(() => readCheckpoint(new TextEncoder().encode('not a checkpoint at all'), 'x.bin')).toThrow(/x.bin: (not a safetensors file|truncated)/);
    const foreign = encodeSafetensors([{ name: 'w', shape: [2], data: new Float32Array([1, 2]) }], { format: 'pt' });
    expect(() => readCheckpoint(foreign, 'model.safetensors')).toThrow(/model.safetensors: not a ple-webgpu checkpoint \(metadata "format" is "pt"/);
    a.destroy();
    other.destroy();
  });

  it('refuses a checkpoint of another optimizer kind: its moments would be misread', async () => {
    const ctx = await testContext();
    const adam = await Trainer.create(ctx, config, { batchSize: 4, optimizer: { kind: 'adam', lr: 0.01 } });
    const sgd = await Trainer.create(ctx, config, { batchSize: 4, optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9 } });
    try {
      const ckpt = readCheckpoint(await checkpointBytes(adam), 'adam.safetensors');
      const before = await sgd.readParams();
      expect(() => loadCheckpoint(sgd, ckpt, 'adam.safetensors')).toThrow(/adam.safetensors: checkpoint was trained with optimizer "adam", this trainer uses "sgd"/);
      expect(await sgd.readParams()).toEqual(before);
    } finally {
      adam.destroy();
      sgd.destroy();
    }
  });

  it('checks the training and data metadata, naming the field', async () => {
    const ctx = await testContext();
    const a = await Trainer.create(ctx, config, { batchSize: 4 });
    try {
      const bytes = await checkpointBytes(a);
      const { tensors, metadata } = decodeSafetensors(bytes, 'a');
      const withMetadata = (extra: Record<string, string>) =>
        encodeSafetensors([...tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data })), { ...metadata, ...extra });
      expect(() => readCheckpoint(withMetadata({ training: '{"epoch":-1,"history":[]}' }), 'b')).toThrow(/b: metadata "training".epoch must be an integer >= 0, got -1/);
      expect(() => readCheckpoint(withMetadata({ training: '{"epoch":2}' }), 'b')).toThrow(/metadata "training".history must be a list/);
      expect(() => readCheckpoint(withMetadata({ data: '{"version":1}' }), 'b')).toThrow(/metadata "data".kind must be "synthetic", "csv", "file", "clicklog" or "encoder", got undefined/);
      expect(() => readCheckpoint(withMetadata({ data: '{"kind":"csv","source":"x.csv","schema":{"labels":[]},"validationFraction":0.1}' }), 'b')).toThrow(/metadata "data".seed must be a number/);
      // Early stopping's best parameters travel as best.<parameter> tensors.
      const best = await a.readParams();
      const ckpt = readCheckpoint(await checkpointBytes(a, { best }));
      expect(ckpt.best).toEqual(best);
      expect(ckpt.params).toEqual(best);
    } finally {
      a.destroy();
    }
  });
});
