/**
 * Soak figures for results/robustness.md: plans created, trained and destroyed
 * many times, and one plan trained for 1,000 steps, with the context's live
 * buffers and bytes before, during and after.
 * Usage: node --import tsx --import ./scripts/register-raw.mjs bench/soak.ts
 */
import { acquireNodeDevice, formatAdapter } from '../src/node.js';
import { ple } from '../src/config.js';
import { soak } from '../src/training/soak.js';

const ctx = await acquireNodeDevice();
const tasks = [
  { name: 'a', type: 'binary' as const },
  { name: 'b', type: 'regression' as const },
];
const config = ple({ inputDim: 16, tasks, levels: 2, taskExperts: 2, sharedExperts: 2, expertWidths: [16], towerWidths: [8] });
const many = await soak(ctx, config, { plans: 20, stepsPerPlan: 100, batchSize: 64 });
const long = await soak(ctx, config, { plans: 1, stepsPerPlan: 1000, batchSize: 64 });
const row = (label: string, r: typeof many) =>
  `| ${label} | ${r.plans} | ${r.steps} | ${r.before.buffers} / ${r.before.bytes} | ${r.during[0].buffers} / ${r.during[0].bytes} → ${r.during[r.during.length - 1].buffers} / ${r.during[r.during.length - 1].bytes} | ${r.after.buffers} / ${r.after.bytes} |`;
console.log(`Adapter: ${formatAdapter(ctx.adapter)}`);
console.log('| run | plans | steps | before (buffers / bytes) | while training (first → last) | after |');
console.log('|---|---|---|---|---|---|');
console.log(row('20 plans x 100 steps', many));
console.log(row('1 plan x 1,000 steps', long));
const ok = JSON.stringify(many.after) === JSON.stringify(many.before) && JSON.stringify(long.after) === JSON.stringify(long.before);
console.log(ok ? 'no leak: every figure returns to its start' : 'LEAK: figures differ');
process.exit(ok ? 0 : 1);
