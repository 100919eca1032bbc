/**
 * `npm run bench:variants`: bench-small's training step with each reduction kernel on its plain
 * and on its subgroup path (src/reductions.ts), side by side on one device: per round, each
 * variant's per-kernel profile (timestamp queries) and its ms/step (wall, and the process's CPU
 * time, SwiftShader's threads included) over a run of steps, in alternating order so every
 * variant sees the same load. Prints per kernel the least time over the rounds (the least
 * disturbed by other load on a shared host) and the median, with each subgroup/plain ratio.
 * Robustness off, as the CLI's device.
 *
 * Flags: --rounds N (default 7), --steps N per round (default 10), --config NAME (default bench-small).
 */
import { acquireNodeDevice, formatAdapter } from '../src/node.js';
import { Trainer } from '../src/trainer.js';
import { allOnPath, reductionKernels } from '../src/reductions.js';
import { benchBatch, benchConfigs, fmt, mdTable, modelConfig, profileStep } from './common.js';
import { loadavg } from 'node:os';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const rounds = Number(option('--rounds') ?? 7);
const steps = Number(option('--steps') ?? 10);
const c = benchConfigs[option('--config') ?? 'bench-small'];
if (!c) throw new Error(`--config: no benchmark config named ${option('--config')}`);

const ctx = await acquireNodeDevice({ robustness: false });
console.log(`adapter: ${formatAdapter(ctx.adapter)}; subgroups ${ctx.subgroups ? `${ctx.subgroups.minSize}-${ctx.subgroups.maxSize}` : 'absent'}; load ${loadavg()[0].toFixed(2)}`);
if (!ctx.subgroups) throw new Error('this device has no subgroups feature: there is only the plain path to time');
const batch = benchBatch(c);
const create = (reductions: ReturnType<typeof allOnPath>) =>
  Trainer.create(ctx, modelConfig(c), { batchSize: c.batchSize, seed: 1, optimizer: { kind: 'adam', lr: 1e-3 }, reductions });
const variants = [
  { name: 'plain', trainer: await create(allOnPath('plain')), ms: [] as number[], cpuMs: [] as number[], kernels: new Map<string, number[]>() },
  { name: 'subgroup', trainer: await create(allOnPath('subgroup')), ms: [] as number[], cpuMs: [] as number[], kernels: new Map<string, number[]>() },
];
const first = await Promise.all(variants.map(async (v) => (await v.trainer.step(batch)).total));
console.log(`first-step loss: ${variants.map((v, i) => `${v.name} ${first[i]}`).join(', ')}`);
for (const v of variants) for (let i = 0; i < 3; i++) await v.trainer.step(batch);

for (let r = 0; r < rounds; r++) {
  for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
    const p = await profileStep(ctx, v.trainer, 1);
    for (const k of p.byKernel) v.kernels.set(k.kernel, [...(v.kernels.get(k.kernel) ?? []), k.ms]);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let last: Promise<unknown> | null = null;
    for (let i = 0; i < steps; i++) last = v.trainer.step(batch);
    await last;
    v.ms.push((performance.now() - t0) / steps);
    const cpu = process.cpuUsage(cpu0);
    v.cpuMs.push((cpu.user + cpu.system) / 1000 / steps);
  }
  console.log(`round ${r + 1}: ${variants.map((v) => `${v.name} ${fmt(v.ms[r])} ms/step (CPU ${fmt(v.cpuMs[r])} ms)`).join(', ')}`);
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const least = (a: number[]) => Math.min(...a);
const [plain, sub] = variants;
const kernels = [...plain.kernels.keys()];
const row = (name: string, a: number[], b: number[], digits: number) => [
  name, fmt(least(a), digits), fmt(least(b), digits), fmt(least(b) / least(a), 2), fmt(median(a), digits), fmt(median(b), digits), fmt(median(b) / median(a), 2),
];
console.log(`\n${c.name}, ${rounds} rounds (load ${loadavg()[0].toFixed(2)} at the end):\n`);
console.log(
  mdTable(
    ['kernel', 'plain least ms', 'subgroup least ms', 'ratio', 'plain median ms', 'subgroup median ms', 'ratio'],
    [
      ...kernels.map((k) => row((reductionKernels as readonly string[]).includes(k) ? `**${k}**` : k, plain.kernels.get(k)!, sub.kernels.get(k) ?? [NaN], 3)),
      row('step, wall ms', plain.ms, sub.ms, 1),
      row('step, CPU ms', plain.cpuMs, sub.cpuMs, 1),
    ],
  ),
);
process.exit(0);
