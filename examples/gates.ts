// Read a trained PLE's gate weights: how much each gate relies on each expert.
//   npm run example:gates [-- checkpoint.safetensors rows.csv]
// Uses the checkpoint that train-csv.ts wrote and the rows it trained on.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { acquireNodeDevice, encoderOfCheckpoint, gateReportsOf, parseCsv, readCheckpoint, readFileBytes, trainerFromCheckpoint } from 'ple-webgpu/node';

const checkpointPath = process.argv[2] ?? 'out/examples/shop.safetensors';
const csvPath = process.argv[3] ?? fileURLToPath(new URL('./data/shop.csv', import.meta.url));

const checkpoint = readCheckpoint(await readFileBytes(checkpointPath), checkpointPath);
const rows = encoderOfCheckpoint(checkpoint.data, checkpointPath).transform(parseCsv(await readFile(csvPath, 'utf8'), csvPath));

const ctx = await acquireNodeDevice();
const trainer = await trainerFromCheckpoint(ctx, checkpoint, { batchSize: 256 }, checkpointPath);
try {
  // gates[j]: level j's gate weights, rows x level.gateColumns; each gate's weights sum to 1 per row.
  const { gates } = await trainer.infer(rows.dense, rows.rows, true, rows.categorical);
  const level = trainer.spec.levels[0];
  const first = level.gates[0];
  const weights = Array.from(gates[0].subarray(first.column, first.column + first.members.length));
  console.log(`row 1, level 0, gate ${first.name}: experts ${first.members.join(', ')} weighted ${weights.map((w) => w.toFixed(3)).join(', ')}`);

  // The same weights summarised over all rows: mean weight per expert, and how evenly a gate mixes.
  for (const g of gateReportsOf(trainer.spec, gates, rows.rows)) {
    const sum = g.meanWeights.reduce((a, w) => a + w, 0);
    if (Math.abs(sum - 1) > 1e-3) throw new Error(`level ${g.level} gate ${g.gate}: mean weights sum to ${sum}, not 1`);
    console.log(
      `level ${g.level} gate ${g.gate.padEnd(8)} experts [${g.experts.join(', ')}] mean weights [${g.meanWeights.map((w) => w.toFixed(3)).join(', ')}]` +
        ` normalised entropy ${g.normalisedEntropy.toFixed(3)}`,
    );
  }
} finally {
  trainer.destroy();
  ctx.device.destroy();
}
