/**
 * Training and evaluation on a streamed Parquet file match the in-memory path on
 * the same rows: with batches in file order, the parameters after an epoch and
 * the evaluation metrics are identical.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { ple } from '../src/config.js';
import { Trainer } from '../src/trainer.js';
import { fit } from '../src/training/fit.js';
import { evaluate } from '../src/training/evaluate.js';
import { openRowSource } from '../src/data/files.js';
import { streamDataset } from '../src/data/stream.js';
import { fitTabular, type TabularSchema } from '../src/data/tabular.js';
import { parseCsv } from '../src/data/csv.js';
import type { Dataset } from '../src/data/dataset.js';
import { Rng } from '../src/rng.js';
import { testContext } from './gpu.js';
import { caseSeed } from './helpers.js';

describe('streamed training', () => {
  it('gives the in-memory parameters and metrics on a small file (batches in file order)', async () => {
    const seed = caseSeed('stream-fit');
    const rng = new Rng(seed);
    const N = 100;
    const a = Array.from({ length: N }, () => rng.normal());
    const u = Array.from({ length: N }, () => `u${Math.floor(rng.uniform() * 9)}`);
    const click = a.map((x) => (x + rng.normal() > 0 ? 1 : 0));
    const buy = click.map((c, i) => (c ? (a[i] > 0.5 ? 1 : 0) : null));
    const file = join(mkdtempSync(join(tmpdir(), 'ple-stream-')), 'd.parquet');
    parquetWriteFile({
      filename: file,
      columnData: [
        { name: 'a', data: Float64Array.from(a), type: 'DOUBLE' },
        { name: 'u', data: u, type: 'STRING' },
        { name: 'click', data: Int32Array.from(click), type: 'INT32' },
        { name: 'buy', data: buy, type: 'INT32', nullable: true },
      ],
      rowGroupSize: 30,
    });
    const schema: TabularSchema = {
      labels: [
        { column: 'click', type: 'binary', threshold: 0.5 },
        { column: 'buy', type: 'binary', threshold: 0.5 },
      ],
      numeric: [{ column: 'a' }],
      categorical: [{ column: 'u', encoding: 'embedding', embeddingDim: 3, hashBuckets: 16 }],
    };
    const csv = ['a,u,click,buy', ...a.map((x, i) => `${x},${u[i]},${click[i]},${buy[i] ?? ''}`)].join('\n');
    const parsed = parseCsv(csv, 'd.csv');
    const encoder = fitTabular(parsed, schema);
    const d = encoder.transform(parsed);
    const split = { rows: d.rows, x: d.dense, labels: d.labels, mask: d.mask, categorical: d.categorical };
    const inMemory: Dataset = { name: 'd.csv', tasks: encoder.tasks, inputDim: encoder.denseDim, embeddings: [{ name: 'u', vocabulary: 16, dim: 3 }], train: split, test: split };

    const source = await openRowSource(file);
    const { dataset: streamed } = await streamDataset({ schema, train: source, test: source, validationFraction: 0, seed: 1 });
    expect(streamed.embeddings).toEqual(inMemory.embeddings);
    const ctx = await testContext();
    const config = ple({ inputDim: inMemory.inputDim, embeddings: inMemory.embeddings, tasks: inMemory.tasks, levels: 1, taskExperts: 1, sharedExperts: 1, expertWidths: [4], towerWidths: [3] });
    const run = async (data: typeof inMemory | typeof streamed) => {
      const trainer = await Trainer.create(ctx, config, { batchSize: 16, seed: 3, optimizer: { kind: 'adam', lr: 0.01 } });
      await fit(trainer, data, { epochs: 2, seed: 1, shuffle: false });
      const params = await trainer.readParams();
      const test = await evaluate(trainer, data.test!, data.tasks);
      trainer.destroy();
      return { params, test };
    };
    const want = await run(inMemory);
    const got = await run(streamed);
    for (const [name, p] of want.params) expect(Array.from(got.params.get(name)!), `${name} (seed ${seed})`).toEqual(Array.from(p));
    expect(got.test.tasks).toEqual(want.test.tasks);
    expect(got.test.loss).toBe(want.test.loss);
    expect(got.test.tasks.buy.count).toBe(buy.filter((b) => b !== null).length);
  });
});
