import { CpuDevice } from '../src/cpu/device.js';
import { Trainer } from '../src/trainer.js';
import { benchConfigs, benchBatch, modelConfig } from './common.js';
import { runCpuOp } from '../src/cpu/kernels.js';
const name = process.argv[2] ?? 'bench-small';
const c = benchConfigs[name];
const dev = await CpuDevice.create();
const t = await Trainer.create(dev, modelConfig(c), { batchSize: c.batchSize, seed: 1, optimizer: { kind: 'adam', lr: 1e-3 } });
const batch = benchBatch(c);
for (let i = 0; i < 3; i++) await t.step(batch);
const t0 = performance.now();
const N = 20;
let r;
for (let i = 0; i < N; i++) r = await t.step(batch);
console.log(`${name}: ${((performance.now() - t0) / N).toFixed(2)} ms/step, loss ${(await r!).total}`);
// per-kernel
const e = t.engine as any;
const by = new Map<string, number>();
for (let rep = 0; rep < 5; rep++) for (const ph of ['forward', 'loss', 'backward', 'optimizer']) for (const op of e.ops[ph]) {
  const s = performance.now(); runCpuOp(op, e.context); by.set(op.kernel, (by.get(op.kernel) ?? 0) + (performance.now() - s) / 5);
}
console.log([...by].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join('\n'));
