/** A device lost mid-run surfaces as DeviceLostError, and training resumes from a checkpoint on a new device. */
import { describe, expect, it } from 'vitest';
import { acquireNodeDevice } from '../src/node.js';
import { DeviceLostError } from '../src/gpu/context.js';
import { ple } from '../src/config.js';
import { Trainer } from '../src/trainer.js';
import { fit } from '../src/training/fit.js';
import { syntheticDataset } from '../src/data/sources.js';
import { checkpointBytes, readCheckpoint, trainerFromCheckpoint } from '../src/checkpoint/checkpoint.js';

describe('device loss', () => {
  it('stops training with a clear error and resumes from the last checkpoint on a new device', async () => {
    const data = syntheticDataset({ inputDim: 6, correlation: 0.5, trainRows: 512, validationRows: 0, testRows: 0, seed: 5 });
    const config = ple({ inputDim: 6, tasks: data.tasks, levels: 2, taskExperts: 1, sharedExperts: 1, expertWidths: [6], towerWidths: [3] });
    // A device of its own: this test destroys it.
    const ctx = await acquireNodeDevice();
    const trainer = await Trainer.create(ctx, config, { batchSize: 64, seed: 1 });
    await fit(trainer, data, { epochs: 1 });
    const saved = await checkpointBytes(trainer, { training: { epoch: 1, history: [] } });
    const paramsBefore = await trainer.readParams();

    let steps = 0;
    const error = await fit(trainer, data, {
      epochs: 3,
      startEpoch: 2,
      onProgress: () => {
        if (++steps === 2) ctx.device.destroy();
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceLostError);
    expect((error as Error).message).toMatch(/the GPU device was lost \(destroyed.*resume from the last checkpoint/);
    expect(ctx.lostError).toBe(error);
    // Every later call says the same, instead of failing somewhere inside the host.
    expect(() => trainer.step({ rows: 1, x: new Float32Array(6), labels: [0, 0] })).toThrow(DeviceLostError);
    trainer.destroy();
    expect(ctx.liveBufferCount).toBe(1); // only the context's shared placeholder is left in the accounts

    // A new device, the last checkpoint, and training goes on.
    const fresh = await acquireNodeDevice();
    const resumed = await trainerFromCheckpoint(fresh, readCheckpoint(saved), { batchSize: 64 });
    expect(await resumed.readParams()).toEqual(paramsBefore);
    const result = await fit(resumed, data, { epochs: 2, startEpoch: 2 });
    expect(Number.isFinite(result.epochs[0].train.loss)).toBe(true);
    expect(resumed.steps).toBe(16);
    resumed.destroy();
  });
});
