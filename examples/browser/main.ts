// A minimal browser page that trains a two-task PLE on data generated in the page.
//   npm run example:browser   (then open the printed http://127.0.0.1 address in a WebGPU browser)
import { acquireBrowserDevice, ple, Rng, Trainer } from 'ple-webgpu';

const log = document.querySelector('#log')!;
const print = (line: string) => (log.textContent += `\n${line}`);

async function main(): Promise<{ losses: number[] }> {
  const inputDim = 8, rows = 256, steps = 20;
  // Two related tasks on random inputs: a click (binary) and a watch time (regression).
  const rng = new Rng(1);
  const x = Float32Array.from({ length: rows * inputDim }, () => rng.normal());
  const labels = new Float32Array(rows * 2);
  for (let r = 0; r < rows; r++) {
    const s = x[r * inputDim] + 0.5 * x[r * inputDim + 1] - x[r * inputDim + 2];
    labels[r * 2] = s > 0 ? 1 : 0;
    labels[r * 2 + 1] = 0.5 * s + 0.3 * x[r * inputDim + 3];
  }

  // Throws NoAdapterError with what to do when the browser has no WebGPU.
  const ctx = await acquireBrowserDevice();
  const config = ple({
    inputDim,
    tasks: [{ name: 'click', type: 'binary' }, { name: 'watch_time', type: 'regression' }],
    levels: 2, taskExperts: 1, sharedExperts: 1, expertWidths: [16], towerWidths: [8],
  });
  const trainer = await Trainer.create(ctx, config, { batchSize: rows, optimizer: { kind: 'adam', lr: 1e-2 }, seed: 1 });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    // step() submits at once; awaiting its result each step keeps this loop simple.
    const { total, taskLoss } = await trainer.step({ rows, x, labels });
    losses.push(total);
    print(`step ${s + 1}: loss ${total.toFixed(4)} (click ${taskLoss[0].toFixed(4)}, watch_time ${taskLoss[1].toFixed(4)})`);
  }
  const [pClick] = await trainer.predict(x.subarray(0, 4 * inputDim), 4);
  print(`P(click) of the first rows: ${Array.from(pClick, (p) => p.toFixed(3)).join(', ')}`);
  trainer.destroy();
  return { losses };
}

// The page states its outcome on <body> (data-status, data-result) for the end-to-end check.
main().then(
  (result) => {
    document.body.dataset.result = JSON.stringify(result);
    document.body.dataset.status = 'done';
  },
  (error: Error) => {
    print(`${error.name}: ${error.message}`);
    document.body.dataset.result = JSON.stringify({ error: `${error.name}: ${error.message}` });
    document.body.dataset.status = 'failed';
  },
);
