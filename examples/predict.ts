// Load the checkpoint that train-csv.ts wrote and predict for new CSV rows.
//   npm run example:predict [-- checkpoint.safetensors rows.csv]
// The rows need the training file's input columns; their label cells may be empty. An unseen
// category (Oslo below) maps to the unknown slot, a missing number ('?') to the training mean.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { acquireNodeDevice, encoderOfCheckpoint, parseCsv, readCheckpoint, readFileBytes, trainerFromCheckpoint } from 'ple-webgpu/node';

const checkpointPath = process.argv[2] ?? 'out/examples/shop.safetensors';
const csvPath = process.argv[3] ?? fileURLToPath(new URL('./data/shop-new.csv', import.meta.url));

// readCheckpoint throws CheckpointError naming the file when it is not a complete ple-webgpu checkpoint.
const checkpoint = readCheckpoint(await readFileBytes(checkpointPath), checkpointPath);
const encoder = encoderOfCheckpoint(checkpoint.data, checkpointPath); // how train-csv.ts encoded its inputs
const rows = encoder.transform(parseCsv(await readFile(csvPath, 'utf8'), csvPath));

const ctx = await acquireNodeDevice();
const trainer = await trainerFromCheckpoint(ctx, checkpoint, { batchSize: 128 }, checkpointPath);
try {
  // One Float32Array per task: a probability for binary tasks, the predicted value for regression.
  const predictions = await trainer.predict(rows.dense, rows.rows, rows.categorical);
  const names = checkpoint.config.tasks.map((t) => t.name);
  console.log(`row  ${names.map((n) => n.padStart(8)).join(' ')}`);
  for (let r = 0; r < rows.rows; r++) {
    const values = predictions.map((p) => p[r]);
    if (!values.every(Number.isFinite)) throw new Error(`row ${r + 1}: a prediction is not finite`);
    console.log(`${String(r + 1).padStart(3)}  ${values.map((v) => v.toFixed(4).padStart(8)).join(' ')}`);
  }
} finally {
  trainer.destroy();
  ctx.device.destroy();
}
