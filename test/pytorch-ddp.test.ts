/**
 * The round trip runtime -> PyTorch DDP -> runtime: a checkpoint written by the runtime (with its CSV
 * encoder) is trained by two PyTorch processes (python3 -m ple_webgpu_torch.train --world-size 2); the
 * PyTorch package encodes a CSV exactly as the runtime does; the runtime loads the result, predicts what
 * PyTorch predicts, and continues training with the step PyTorch would take.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ple } from '../src/config.js';
import { Trainer } from '../src/trainer.js';
import { parseCsv } from '../src/data/csv.js';
import { encoderJsonOf } from '../src/serving/predict.js';
import { fitTabular, TabularEncoder, type TabularSchema } from '../src/data/tabular.js';
import { gatherBatch } from '../src/data/dataset.js';
import { fitTargetScaling, scaleTargets } from '../src/data/targets.js';
import { checkpointBytes, readCheckpoint, trainerFromCheckpoint } from '../src/checkpoint/checkpoint.js';
import { Rng } from '../src/rng.js';
import { caseSeed } from './helpers.js';
import { testContext } from './gpu.js';
import { type Encoded, replay, runModuleOk, tempDir } from './python.js';

const schema: TabularSchema = {
  labels: [
    { column: 'clicked', task: 'click', type: 'binary', positive: ['yes'] },
    { column: 'basket', task: 'big_basket', type: 'binary', threshold: 50 },
    { column: 'dwell', type: 'regression' },
  ],
  numeric: [{ column: 'age' }, { column: 'spend', log1p: true }, { column: 'visits' }],
  categorical: [
    { column: 'city', encoding: 'embedding', embeddingDim: 3 },
    { column: 'device', encoding: 'onehot' },
  ],
};

/** Quoted fields, padding spaces, missing values, CRLF line ends, blank lines; the test file has unseen categories. */
function csvText(rng: Rng, rows: number, cities: string[]): string {
  const lines = ['age,spend, city ,device,clicked,dwell,visits,basket,note'];
  for (let r = 0; r < rows; r++) {
    const age = rng.uniform() < 0.1 ? '?' : String(18 + Math.floor(rng.uniform() * 60));
    const spend = (rng.uniform() * 120).toFixed(2);
    const city = cities[Math.floor(rng.uniform() * cities.length)];
    const device = rng.uniform() < 0.05 ? '' : ['phone', ' desktop', '"tablet"'][Math.floor(rng.uniform() * 3)];
    const clicked = rng.uniform() < 0.15 ? 'NA' : rng.uniform() < 0.4 ? 'yes' : 'no';
    const dwell = rng.uniform() < 0.1 ? '?' : (2 + rng.normal()).toFixed(3);
    const visits = `${(rng.uniform() * 10).toFixed(1)}e${Math.floor(rng.uniform() * 3)}`;
    const basket = (rng.uniform() * 100).toFixed(1);
    lines.push(`${age},${spend},${city},${device},${clicked},${dwell},${visits},${basket},"a, b ""quoted"""`);
    if (r % 17 === 5) lines.push('');
  }
  return lines.join('\r\n') + '\r\n';
}

describe('runtime -> PyTorch DDP -> runtime', () => {
  it('trains on 2 processes, encodes and predicts as the runtime, and the runtime continues', async () => {
    const seed = caseSeed('pytorch-ddp');
    const where = `seed ${seed}; rerun with PLE_TEST_SEED=${seed}`;
    const rng = new Rng(seed);
    const dir = tempDir();
    const trainFile = join(dir, 'train.csv');
    const testFile = join(dir, 'test.csv');
    writeFileSync(trainFile, csvText(rng, 61, ['paris', 'lyon', 'nice']));
    writeFileSync(testFile, csvText(rng, 23, ['paris', 'lyon', 'nice', 'rome']));
    const encoder = fitTabular(parseCsv(readFileSync(trainFile, 'utf8'), trainFile), schema);
    const config = ple({
      inputDim: encoder.denseDim,
      embeddings: encoder.embeddings.map((e) => ({ name: e.column, vocabulary: e.vocabulary, dim: e.dim })),
      tasks: encoder.tasks,
      levels: 2,
      taskExperts: 1,
      sharedExperts: 1,
      expertWidths: [6],
      towerWidths: [4],
    });
    const ctx = await testContext();
    const start = join(dir, 'start.safetensors');
    const first = await Trainer.create(ctx, config, { batchSize: 16, optimizer: { kind: 'adam', lr: 0.01, eps: 1e-6 }, seed });
    // The scaling of the regression target, as the CLI records it: PyTorch trains on the same scale and keeps it.
    const trainData = encoder.transform(parseCsv(readFileSync(trainFile, 'utf8'), trainFile));
    const targets = fitTargetScaling({ name: 'train', tasks: trainData.tasks, inputDim: trainData.denseDim, train: { rows: trainData.rows, x: trainData.dense, labels: trainData.labels, mask: trainData.mask } });
    expect(targets.tasks.map((t) => t.name)).toEqual(['dwell']);
    writeFileSync(start, await checkpointBytes(first, { data: { kind: 'encoder', encoder: encoder.toJSON() }, training: { epoch: 0, history: [], targets } }));
    first.destroy();

    const out = join(dir, 'ddp.safetensors');
    runModuleOk('train', ['--checkpoint', start, '--train', trainFile, '--test', testFile, '--epochs', '2', '--world-size', '2', '--batch-size', '16', '--out', out, '--quiet']);
    const ckpt = readCheckpoint(new Uint8Array(readFileSync(out)), out);
    expect(ckpt.step).toBe(2 * Math.ceil(61 / 16));
    // PyTorch's epoch reports carry their own keys (test metrics), not the runtime's EpochReport.
    const training = ckpt.training as unknown as { epoch: number; history: { test: Record<string, unknown> }[]; targets: unknown };
    expect(training.targets).toEqual(targets);
    const history = training.history;
    expect(history.map((h) => Object.keys(h.test).sort())).toEqual([['big_basket', 'click', 'dwell'], ['big_basket', 'click', 'dwell']]);

    // The runtime's encoding of the test file, its predictions, and the step it takes next.
    const test = TabularEncoder.fromJSON(encoderJsonOf(ckpt.data)!).transform(parseCsv(readFileSync(testFile, 'utf8'), testFile));
    const trainer = await trainerFromCheckpoint(ctx, ckpt, { batchSize: 16 }, out);
    try {
      const predicted = await trainer.predict(test.dense, test.rows, test.categorical);
      const K = test.tasks.length;
      const split = scaleTargets({ name: 'test', tasks: test.tasks, inputDim: test.denseDim, train: { rows: test.rows, x: test.dense, labels: test.labels, mask: test.mask, categorical: test.categorical } }, targets).train;
      const order = Array.from({ length: test.rows }, (_, i) => test.rows - 1 - i);
      const batch = gatherBatch(split, test.denseDim, K, order, 0, 16);
      const step = await trainer.step(batch);
      expect(trainer.steps).toBe(ckpt.step + 1);

      const wire = { rows: batch.rows, x: Array.from(batch.x), labels: Array.from(batch.labels, (y) => (Number.isNaN(y) ? null : y)), mask: Array.from(batch.mask!), categorical: Array.from(batch.categorical!) };
      const [encoded, next] = replay<Encoded & { steps: { taskLoss: number[] }[] }>([
        { checkpoint: out, dtype: 'float64', predict: { csv: testFile } },
        { checkpoint: out, dtype: 'float64', steps: [wire] },
      ]);
      // The PyTorch package's encoding is the runtime's, value for value.
      expect(encoded.x, where).toEqual(Array.from(test.dense));
      expect(encoded.categorical, where).toEqual(Array.from(test.categorical));
      expect(encoded.mask, where).toEqual(Array.from(test.mask));
      expect(encoded.labels, where).toEqual(Array.from(test.labels, (y) => (Number.isNaN(y) ? null : y)));
      for (let k = 0; k < K; k++) {
        for (let r = 0; r < test.rows; r++) expect(Math.abs(predicted[k][r] - encoded.predictions[r * K + k]), where).toBeLessThanOrEqual(1e-5);
      }
      step.taskLoss.forEach((l, k) => expect(Math.abs(l - next.steps[0].taskLoss[k]), where).toBeLessThanOrEqual(1e-5 * Math.abs(next.steps[0].taskLoss[k]) + 1e-7));
    } finally {
      trainer.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
