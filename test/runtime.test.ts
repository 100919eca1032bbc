/** Device acquisition, limits, batch validation, prediction and resource accounting. */
import { describe, expect, it } from 'vitest';
import { ple } from '../src/config.js';
import { buildSpec } from '../src/spec.js';
import { activationLayout, buildPlan, largestBatch } from '../src/plan.js';
import { inputLayout } from '../src/layers/model.js';
import { stageBatch } from '../src/input-stage.js';
import { LimitError } from '../src/limits.js';
import { BatchError, Trainer } from '../src/trainer.js';
import { referenceForward, toFloat64 } from '../src/reference/model.js';
import { Rng } from '../src/rng.js';
import { caseSeed, expectClose } from './helpers.js';
import { testContext } from './gpu.js';

const tasks = [
  { name: 'click', type: 'binary' as const },
  { name: 'time', type: 'regression' as const },
];
const small = ple({ inputDim: 5, tasks, levels: 2, taskExperts: 1, sharedExperts: 1, expertWidths: [4], towerWidths: [3] });

describe('runtime', () => {
  it('acquires an adapter in Node and reports it', async () => {
    const ctx = await testContext();
    expect(typeof ctx.adapter.vendor).toBe('string');
    expect(typeof ctx.adapter.isFallback).toBe('boolean');
    expect(ctx.adapter.features.length).toBeGreaterThan(0);
    // The device got the adapter's storage binding size, not the 128 MiB default.
    expect(ctx.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
  });

  it('refuses a plan over the device limits, naming the limit and the largest batch that fits', async () => {
    const ctx = await testContext();
    const config = ple({ inputDim: 512, tasks, levels: 2, taskExperts: 2, sharedExperts: 2, expertWidths: [256], towerWidths: [64] });
    const spec = buildSpec(config);
    const before = ctx.liveBufferCount;
    const error = await buildPlan(ctx, spec, { batchSize: 400_000 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LimitError);
    const e = error as LimitError;
    expect(e.limit).toMatch(/maxStorageBufferBindingSize|maxBufferSize/);
    expect(e.message).toMatch(/largest batch size that fits is \d+/);
    const align = ctx.limits.minStorageBufferOffsetAlignment / 4;
    const max = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    expect(e.maxBatchSize).toBe(largestBatch(spec, align, max));
    expect(activationLayout(spec, e.maxBatchSize!, align).bytes).toBeLessThanOrEqual(max);
    expect(activationLayout(spec, e.maxBatchSize! + 1, align).bytes).toBeGreaterThan(max);
    // Nothing was allocated for the refused plan.
    expect(ctx.liveBufferCount).toBe(before);
  });

  it('stages a short batch after a full one as into a fresh arena: the padding rows cleared and masked', () => {
    const withTables = ple({ inputDim: 3, embeddings: [{ name: 'item', vocabulary: 7, dim: 2 }], tasks, levels: 1, taskExperts: 1, sharedExperts: 1, expertWidths: [4], towerWidths: [] });
    for (const config of [small, withTables]) {
      const spec = buildSpec(config);
      const B = 6;
      const layout = inputLayout(spec, B, 4);
      const rng = new Rng(caseSeed('stage after a full batch'));
      const batch = (rows: number) => ({
        rows,
        x: Float32Array.from({ length: rows * spec.inputDim }, () => rng.normal() + 2),
        labels: Array.from({ length: rows * 2 }, () => rng.uniform()),
        mask: Array.from({ length: rows * 2 }, () => 1),
        categorical: spec.embeddings.length > 0 ? Array.from({ length: rows }, () => rng.int(1, 6)) : undefined,
      });
      const used = new Float32Array(layout.size);
      stageBatch(spec, layout, B, batch(B), used, new Uint32Array(used.buffer));
      const short = batch(2);
      const fresh = new Float32Array(layout.size);
      stageBatch(spec, layout, B, short, fresh, new Uint32Array(fresh.buffer));
      stageBatch(spec, layout, B, short, used, new Uint32Array(used.buffer));
      for (const name of ['x', 'labels', 'mask', ...(spec.embeddings.length > 0 ? ['indices'] : [])]) {
        const v = layout.get(name);
        expect(Array.from(used.subarray(v.offset, v.offset + v.size)), `${spec.embeddings.length > 0 ? "with" : "without"} embeddings: ${name}`).toEqual(Array.from(fresh.subarray(v.offset, v.offset + v.size)));
      }
      const mask = layout.get('mask');
      expect(Array.from(fresh.subarray(mask.offset, mask.offset + mask.size))).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
  });

  it('rejects malformed batches with messages naming what is wrong', async () => {
    const ctx = await testContext();
    const trainer = await Trainer.create(ctx, small, { batchSize: 4 });
    try {
      const ok = { rows: 2, x: new Float32Array(10), labels: [1, 0.5, 0, 1.5] };
      expect(() => trainer.step({ ...ok, rows: 5, x: new Float32Array(25), labels: new Float32Array(10) })).toThrow(/batch.rows must be an integer in \[1, 4\]/);
      expect(() => trainer.step({ ...ok, x: new Float32Array(9) })).toThrow(/batch.x has 9 values, expected rows \(2\) x inputDim \(5\) = 10/);
      const x = new Float32Array(10);
      x[7] = NaN;
      expect(() => trainer.step({ ...ok, x })).toThrow(BatchError);
      expect(() => trainer.step({ ...ok, x })).toThrow(/batch.x row 1 column 2 is NaN/);
      expect(() => trainer.step({ ...ok, labels: [1, NaN, 0, 1] })).toThrow(/batch.labels row 0 task "time" is NaN but its mask is 1/);
      expect(() => trainer.step({ ...ok, mask: [1, 1, 2, 1] })).toThrow(/batch.mask row 1 task 0 is 2/);
      // A NaN label under a 0 mask is a missing label, not an error.
      const r = await trainer.step({ ...ok, labels: [1, NaN, 0, 1], mask: [1, 0, 1, 1] });
      expect(r.taskCount).toEqual([2, 1]);
      expect(r.taskLoss.every(Number.isFinite)).toBe(true);
      expect(trainer.steps).toBe(1);
    } finally {
      trainer.destroy();
    }
  });

  it('predicts any number of rows in batch-sized chunks, matching the reference', async () => {
    const ctx = await testContext();
    const seed = caseSeed('predict');
    const rng = new Rng(seed);
    const trainer = await Trainer.create(ctx, small, { batchSize: 8, seed });
    try {
      const rows = 19;
      const x = Array.from({ length: rows * 5 }, () => rng.normal());
      const [p0, p1] = await trainer.predict(x, rows);
      const trace = referenceForward(trainer.spec, toFloat64(await trainer.readParams()), { rows, x, labels: new Array(rows * 2).fill(0) });
      expectClose('binary task probabilities', seed, p0, Array.from(trace.logits[0], (z) => 1 / (1 + Math.exp(-z))), 1e-4);
      expectClose('regression task values', seed, p1, trace.logits[1], 1e-4);
    } finally {
      trainer.destroy();
    }
  });

  it('frees every buffer it allocated when destroyed, and its memory stays constant while training', async () => {
    const ctx = await testContext();
    ctx.placeholderBuffer; // shared by all plans of the context
    const buffers = ctx.liveBufferCount;
    const bytes = ctx.liveBytes;
    const trainer = await Trainer.create(ctx, small, { batchSize: 4 });
    const afterCreate = { buffers: ctx.liveBufferCount, bytes: ctx.liveBytes };
    const batch = { rows: 4, x: new Float32Array(20).fill(0.5), labels: [1, 0.1, 0, 0.2, 1, 0.3, 0, 0.4] };
    for (let i = 0; i < 20; i++) await trainer.step(batch);
    expect(ctx.liveBufferCount).toBeLessThanOrEqual(afterCreate.buffers + 1); // + the pooled loss staging buffer
    const steady = { buffers: ctx.liveBufferCount, bytes: ctx.liveBytes };
    for (let i = 0; i < 20; i++) await trainer.step(batch);
    expect({ buffers: ctx.liveBufferCount, bytes: ctx.liveBytes }).toEqual(steady);
    trainer.destroy();
    expect(ctx.liveBufferCount).toBe(buffers);
    expect(ctx.liveBytes).toBe(bytes);
  });
});

describe('a plan that fails while being built', () => {
  it('frees everything it had allocated', async () => {
    const ctx = await testContext();
    ctx.placeholderBuffer;
    const before = { buffers: ctx.liveBufferCount, bytes: ctx.liveBytes };
    // A workgroup grid over the device's per-dimension limit fails inside dispatch creation,
    // after the plan's buffers exist.
    const spec = buildSpec(ple({ inputDim: 2, tasks, levels: 1, taskExperts: 1, sharedExperts: 1, expertWidths: [2], towerWidths: [] }));
    const tooTall = ctx.limits.maxComputeWorkgroupsPerDimension * 64 + 1;
    const error = await buildPlan(ctx, spec, { batchSize: tooTall, gemmTuning: { tileM: 1, tileN: 1, wgX: 1, wgY: 1 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LimitError);
    expect((error as LimitError).limit).toBe('maxComputeWorkgroupsPerDimension');
    expect({ buffers: ctx.liveBufferCount, bytes: ctx.liveBytes }).toEqual(before);
  });
});
