/**
 * `npm run bench:variants`: bench-small's training step with each reduction kernel on its plain
 * and on its subgroup path (src/reductions.ts), side by side on one device, in alternating order
 * so every variant sees the same load:
 * - per kernel: the step's dispatches of that kernel, repeated --repeats times in one command
 *   buffer, submitted and awaited; wall time and the process's CPU time (user + system,
 *   SwiftShader's threads included: on a software adapter the work done, far less swayed by other
 *   load than wall time) per repetition;
 * - the whole step: ms/step (wall and CPU) over --steps steps.
 * Prints medians over the rounds and each subgroup/plain ratio. Robustness off, as the CLI's device.
 *
 * Flags: --rounds N (default 7), --steps N per round (default 10), --repeats N (default 20),
 * --config NAME (default bench-small).
 */
import { acquireNodeDevice, formatAdapter } from '../src/node.js';
import { Trainer } from '../src/trainer.js';
import { allOnPath, reductionKernels } from '../src/reductions.js';
import { benchBatch, benchConfigs, fmt, mdTable, modelConfig } from './common.js';
import { encodeOps, type Op } from '../src/kernels/dispatch.js';
import { loadavg } from 'node:os';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const rounds = Number(option('--rounds') ?? 7);
const steps = Number(option('--steps') ?? 10);
const repeats = Number(option('--repeats') ?? 20);
const c = benchConfigs[option('--config') ?? 'bench-small'];
if (!c) throw new Error(`--config: no benchmark config named ${option('--config')}`);

const ctx = await acquireNodeDevice({ robustness: false });
console.log(`adapter: ${formatAdapter(ctx.adapter)}; subgroups ${ctx.subgroups ? `${ctx.subgroups.minSize}-${ctx.subgroups.maxSize}` : 'absent'}; load ${loadavg()[0].toFixed(2)}`);
if (!ctx.subgroups) throw new Error('this device has no subgroups feature: there is only the plain path to time');
const batch = benchBatch(c);
const create = (reductions: ReturnType<typeof allOnPath>) =>
  Trainer.create(ctx, modelConfig(c), { batchSize: c.batchSize, seed: 1, optimizer: { kind: 'adam', lr: 1e-3 }, reductions });
const variants = [
  { name: 'plain', trainer: await create(allOnPath('plain')), ms: [] as number[], cpuMs: [] as number[], kernels: new Map<string, { ms: number[]; cpuMs: number[] }>() },
  { name: 'subgroup', trainer: await create(allOnPath('subgroup')), ms: [] as number[], cpuMs: [] as number[], kernels: new Map<string, { ms: number[]; cpuMs: number[] }>() },
];
const opsOf = (t: Trainer, kernel: string): Op[] =>
  [...t.plan.forward, ...t.plan.loss, ...t.plan.backward, ...t.plan.optimizer].filter((op) => op.kind === 'dispatch' && op.dispatch.kernel === kernel);

/** Wall and CPU ms of one repetition of `ops`, timed over `repeats` of them in one command buffer. */
async function timeOps(ops: Op[]): Promise<{ ms: number; cpuMs: number }> {
  const encoder = ctx.device.createCommandEncoder({ label: 'variants' });
  for (let i = 0; i < repeats; i++) encodeOps(encoder, ops, 'variants');
  const commands = encoder.finish();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  ctx.device.queue.submit([commands]);
  await ctx.device.queue.onSubmittedWorkDone();
  const cpu = process.cpuUsage(cpu0);
  return { ms: (performance.now() - t0) / repeats, cpuMs: (cpu.user + cpu.system) / 1000 / repeats };
}
const first = await Promise.all(variants.map(async (v) => (await v.trainer.step(batch)).total));
console.log(`first-step loss: ${variants.map((v, i) => `${v.name} ${first[i]}`).join(', ')}`);
for (const v of variants) for (let i = 0; i < 3; i++) await v.trainer.step(batch);

for (let r = 0; r < rounds; r++) {
  for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
    for (const k of reductionKernels) {
      const t = await timeOps(opsOf(v.trainer, k));
      const seen = v.kernels.get(k) ?? { ms: [], cpuMs: [] };
      seen.ms.push(t.ms);
      seen.cpuMs.push(t.cpuMs);
      v.kernels.set(k, seen);
    }
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
const [plain, sub] = variants;
const row = (name: string, a: { ms: number[]; cpuMs: number[] }, b: { ms: number[]; cpuMs: number[] }, digits: number) => [
  name,
  fmt(median(a.cpuMs), digits), fmt(median(b.cpuMs), digits), fmt(median(b.cpuMs) / median(a.cpuMs), 2),
  fmt(median(a.ms), digits), fmt(median(b.ms), digits), fmt(median(b.ms) / median(a.ms), 2),
];
console.log(`\n${c.name}, medians of ${rounds} rounds (load ${loadavg()[0].toFixed(2)} at the end); a kernel's time is all its dispatches in one step:\n`);
console.log(
  mdTable(
    ['', 'plain CPU ms', 'subgroup CPU ms', 'ratio', 'plain wall ms', 'subgroup wall ms', 'ratio'],
    [...reductionKernels.map((k) => row(k, plain.kernels.get(k)!, sub.kernels.get(k)!, 3)), row('step', plain, sub, 1)],
  ),
);
process.exit(0);
