/**
 * A checkpoint `npm start` trained by streaming a Parquet file, with hashed ID columns, a vocabulary cut by
 * --min-count and a label whose missing values count as 0 (--negative-if-missing): the PyTorch package reads
 * it, encodes the same rows (as CSV) exactly as the runtime encodes the Parquet file, and predicts what the
 * runtime predicts.
 */
import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint, trainerFromCheckpoint } from '../src/checkpoint/checkpoint.js';
import { openRowSource } from '../src/data/files.js';
import { TabularEncoder, type TabularData } from '../src/data/tabular.js';
import { encoderJsonOf } from '../src/serving/predict.js';
import { caseSeed } from './helpers.js';
import { testContext } from './gpu.js';
import { runCli } from './cli-run.js';
import { type Encoded, replay } from './python.js';
import { logCsv, writeLog } from './streamed-log.js';

/** Rows of parts, concatenated. */
function concat(parts: TabularData[], pick: (d: TabularData) => Float32Array | Int32Array): number[] {
  return parts.flatMap((d) => Array.from(pick(d)));
}

describe('PyTorch package on a streamed run with hashed columns', () => {
  it('encodes as the runtime and predicts what it predicts', async () => {
    const seed = caseSeed('pytorch streamed');
    const where = `seed ${seed}`;
    const dir = await mkdtemp(join(tmpdir(), 'ple-torch-streamed-'));
    const parquet = join(dir, 'log.parquet');
    const csv = join(dir, 'log.csv');
    await writeFile(csv, logCsv(writeLog(parquet, 400, seed, false)));
    const r = await runCli([
      '--data', 'file', '--train', parquet, '--label', 'click=click:threshold:0.5', '--label', 'buy=buy:threshold:0.5', '--negative-if-missing', 'buy',
      '--numeric', 'f0,f1', '--categorical', 'city', '--min-count', '2', '--hash', 'user_id:64', '--hash', 'item_id:32',
      '--levels', '1', '--task-experts', '1', '--shared-experts', '1', '--expert-widths', '4', '--tower-widths', '2',
      '--batch-size', '64', '--lr', '0.02', '--epochs', '2', '--tuning', 'adapter', '--quiet', '--out', dir,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const file = join(dir, 'checkpoint.safetensors');
    const ckpt = readCheckpoint(new Uint8Array(await readFile(file)), file);
    const encoder = TabularEncoder.fromJSON(encoderJsonOf(ckpt.data)!);
    expect(encoder.toJSON().categorical.map((c) => c.hashBuckets ?? c.vocabulary.length)).toEqual([3, 64, 32]);

    // The runtime's encoding of the Parquet file, chunk by chunk, and its predictions.
    const source = await openRowSource(parquet);
    const parts: TabularData[] = [];
    for await (const chunk of source.chunks(encoder.columns)) parts.push(encoder.transformChunk(chunk, source.name));
    const rows = parts.reduce((a, d) => a + d.rows, 0);
    const [x, categorical, labels, mask] = [concat(parts, (d) => d.dense), concat(parts, (d) => d.categorical), concat(parts, (d) => d.labels), concat(parts, (d) => d.mask)];
    const ctx = await testContext();
    const trainer = await trainerFromCheckpoint(ctx, ckpt, { batchSize: 64 }, file);
    let predicted: Float32Array[];
    try {
      predicted = await trainer.predict(Float32Array.from(x), rows, Int32Array.from(categorical));
    } finally {
      trainer.destroy();
    }

    const [encoded] = replay<Encoded>([{ checkpoint: file, dtype: 'float64', predict: { csv } }]);
    expect(encoded.x, where).toEqual(x);
    expect(encoded.categorical, where).toEqual(categorical);
    expect(encoded.labels, where).toEqual(labels.map((y) => (Number.isNaN(y) ? null : y)));
    expect(encoded.mask, where).toEqual(mask);
    // Missing buy labels count as 0 (every row is in the task), and some user IDs share no row with another.
    expect(mask.every((m) => m === 1)).toBe(true);
    expect(new Set(categorical.filter((_, i) => i % 2 === 0)).size).toBeGreaterThan(20);
    const K = encoder.tasks.length;
    for (let k = 0; k < K; k++) {
      for (let r = 0; r < rows; r++) expect(Math.abs(predicted[k][r] - encoded.predictions[r * K + k]), `${where}, task ${k}, row ${r}`).toBeLessThanOrEqual(1e-5);
    }
  }, 300_000);
});
