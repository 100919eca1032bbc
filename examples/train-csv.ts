// Train a two-task PLE in Node on a CSV file and save a checkpoint.
//   npm run example:train [-- data.csv checkpoint.safetensors]
// Tasks: `clicked` (binary) on every row; `spend` (regression) only where the row has one:
// an empty cell masks that row out of the spend loss (PLE's sample spaces).
import { readFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireNodeDevice, checkpointBytes, csvDataset, fit, formatAdapter, ple, Trainer, writeFileAtomic, type TabularSchema } from 'ple-webgpu/node';

const csvPath = process.argv[2] ?? fileURLToPath(new URL('./data/shop.csv', import.meta.url));
const checkpointPath = process.argv[3] ?? 'out/examples/shop.safetensors';

const schema: TabularSchema = {
  labels: [
    { column: 'clicked', task: 'click', type: 'binary', positive: 'yes' },
    { column: 'spend', type: 'regression' },
  ],
  numeric: [{ column: 'age' }, { column: 'price', log1p: true }],
  categorical: [{ column: 'city' }, { column: 'device' }],
};
// Fits the encoder (standardisation, vocabularies) on the training rows; holds out validation and test rows.
const { dataset, encoder } = csvDataset({ schema, train: { text: await readFile(csvPath, 'utf8'), source: csvPath }, seed: 1 });

const ctx = await acquireNodeDevice(); // throws NoAdapterError naming what to install when there is no adapter
console.log(`adapter: ${formatAdapter(ctx.adapter)}`);
const config = ple({
  inputDim: dataset.inputDim,
  tasks: dataset.tasks,
  levels: 2, taskExperts: 1, sharedExperts: 1, expertWidths: [16], towerWidths: [8],
});
const trainer = await Trainer.create(ctx, config, { batchSize: 128, optimizer: { kind: 'adam', lr: 3e-3 }, seed: 1 });
try {
  const result = await fit(trainer, dataset, {
    epochs: 4,
    onEpoch: (e) => console.log(`epoch ${e.epoch}: train loss ${e.train.loss.toFixed(4)}, validation click AUC ${e.validation?.tasks.click.auc?.toFixed(3)}`),
  });
  const last = result.epochs[result.epochs.length - 1];
  if (!(last.train.loss < result.epochs[0].train.loss)) throw new Error('the training loss did not decrease');

  // The encoder travels in the checkpoint, so predicting needs nothing but the checkpoint and raw CSV rows.
  const bytes = await checkpointBytes(trainer, { data: { kind: 'encoder', encoder: encoder.toJSON() } });
  await mkdir(dirname(checkpointPath), { recursive: true });
  await writeFileAtomic(checkpointPath, bytes); // a crash leaves the old file or the whole new one
  console.log(`wrote ${checkpointPath} (${bytes.length} bytes, ${trainer.steps} steps)`);
} finally {
  trainer.destroy();
  ctx.device.destroy();
}
