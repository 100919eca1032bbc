/**
 * Times each dispatch of one training step on its own (submit, wait), grouped
 * by kernel: where a step's time goes on this adapter.
 * Usage: node --import tsx --import ./scripts/register-raw.mjs bench/profile-ops.ts
 */
import { acquireNodeDevice, formatAdapter } from '../src/node.js';
import { ple } from '../src/config.js';
import { Trainer } from '../src/trainer.js';
import { encodeOps, opKernel, opName, type Op } from '../src/kernels/dispatch.js';

// The CLI's device: robustness off (src/cli/main.ts).
const ctx = await acquireNodeDevice({ robustness: false });
const B = Number(process.env.BATCH ?? 512);
const din = Number(process.env.INPUT ?? 128);
const tasks = [
  { name: 'a', type: 'binary' as const },
  { name: 'b', type: 'binary' as const },
];
const trainer = await Trainer.create(ctx, ple({ inputDim: din, tasks, levels: 2, taskExperts: 2, sharedExperts: 2, expertWidths: [64], towerWidths: [32] }), { batchSize: B });
const batch = { rows: B, x: new Float32Array(B * din).map(() => Math.random() - 0.5), labels: new Float32Array(B * 2).map(() => (Math.random() < 0.5 ? 1 : 0)) };
await trainer.step(batch);
const plan = trainer.plan;
const ops: Op[] = [...plan.forward, ...plan.loss, ...plan.backward, ...plan.optimizer];
const byKernel = new Map<string, number>();
let total = 0;
for (const op of ops) {
  const t0 = performance.now();
  const enc = ctx.device.createCommandEncoder();
  encodeOps(enc, [op], 'profile');
  ctx.device.queue.submit([enc.finish()]);
  await ctx.device.queue.onSubmittedWorkDone();
  const ms = performance.now() - t0;
  const label = `${opKernel(op)} ${opName(op)}`;
  console.log(`${ms.toFixed(1).padStart(8)} ms  ${label}  grid ${op.kind === 'dispatch' ? op.dispatch.grid.join('x') : ''}`);
  const kernel = opKernel(op);
  byKernel.set(kernel, (byKernel.get(kernel) ?? 0) + ms);
  total += ms;
}
console.log(`\n${formatAdapter(ctx.adapter)}; batch ${B}, input ${din}`);
for (const [k, ms] of [...byKernel].sort((a, b) => b[1] - a[1])) console.log(`${ms.toFixed(1).padStart(8)} ms  ${((ms / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
const t0 = performance.now();
for (let i = 0; i < 3; i++) await trainer.step(batch);
console.log(`whole step: ${((performance.now() - t0) / 3).toFixed(1)} ms (sum of ops ${total.toFixed(1)} ms)`);
process.exit(0);
