/**
 * `npm run bench:variants`: bench-small's training step in two variants, side by side on one
 * device, in alternating order so both see the same load. `--compare paths` (default): every
 * reduction kernel on its plain path against every one on its subgroup path (src/reductions.ts);
 * `--compare fusion`: the gate softmax and mixture as two dispatches per level against one
 * (gate_mixture); `--compare base --base DIR`: another checkout of the project (its Trainer, its
 * defaults) against this tree's defaults, per kernel. Timed:
 * - per kernel: the step's dispatches of that kernel, repeated --repeats times in one command
 *   buffer, submitted and awaited; wall time and the process's CPU time (user + system,
 *   SwiftShader's threads included: on a software adapter the work done, far less swayed by other
 *   load than wall time) per repetition;
 * - the whole step: ms/step (wall and CPU) over --steps steps.
 * Prints medians over the rounds and each subgroup/plain ratio. Robustness off, as the CLI's device.
 *
 * Flags: --compare paths|fusion|base, --base DIR, --rounds N (default 7), --steps N per round (default 10),
 * --repeats N (default 20), --config NAME (default bench-small).
 */
import { acquireNodeDevice, formatAdapter } from '../src/node.js';
import { Trainer } from '../src/trainer.js';
import { allOnPath, reductionKernels } from '../src/reductions.js';
import type { TrainerOptions } from '../src/trainer.js';
import { benchBatch, benchConfigs, fmt, mdTable, median, modelConfig } from './common.js';
import { encodeOps, type Op } from '../src/kernels/dispatch.js';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const rounds = Number(option('--rounds') ?? 7);
const steps = Number(option('--steps') ?? 10);
const repeats = Number(option('--repeats') ?? 20);
const compare = option('--compare') ?? 'paths';
if (compare !== 'paths' && compare !== 'fusion' && compare !== 'base') throw new Error(`--compare: paths, fusion or base, got ${compare}`);
const baseDir = option('--base');
if (compare === 'base' && !baseDir) throw new Error('--compare base needs --base DIR, a checkout of the project');
const BaseTrainer = baseDir ? ((await import(pathToFileURL(join(resolve(baseDir), 'src/trainer.ts')).href)) as { Trainer: typeof Trainer }).Trainer : Trainer;
const c = benchConfigs[option('--config') ?? 'bench-small'];
if (!c) throw new Error(`--config: no benchmark config named ${option('--config')}`);

const ctx = await acquireNodeDevice({ robustness: false });
console.log(`adapter: ${formatAdapter(ctx.adapter)}; subgroups ${ctx.subgroups ? `${ctx.subgroups.minSize}-${ctx.subgroups.maxSize}` : 'absent'}; load ${loadavg()[0].toFixed(2)}`);
if (compare === 'paths' && !ctx.subgroups) throw new Error('this device has no subgroups feature: there is only the plain path to time');
const batch = benchBatch(c);
const create = (options: Partial<TrainerOptions>, T: typeof Trainer = Trainer) =>
  T.create(ctx, modelConfig(c), { batchSize: c.batchSize, seed: 1, optimizer: { kind: 'adam', lr: 1e-3 }, ...options });
const [optionsA, optionsB]: [string, Partial<TrainerOptions>, typeof Trainer][] =
  compare === 'paths'
    ? [['plain', { reductions: allOnPath('plain'), fuseGateMixture: false }, Trainer], ['subgroup', { reductions: allOnPath('subgroup'), fuseGateMixture: false }, Trainer]]
    : compare === 'fusion'
      ? [['two dispatches', { fuseGateMixture: false }, Trainer], ['fused', { fuseGateMixture: true }, Trainer]]
      : [['base', {}, BaseTrainer], ['this tree', {}, Trainer]];
const variants = await Promise.all(
  [optionsA, optionsB].map(async ([name, options, T]) => ({ name, trainer: await create(options, T), ms: [] as number[], cpuMs: [] as number[], kernels: new Map<string, { ms: number[]; cpuMs: number[] }>() })),
);
const kernelsOf = (t: Trainer) => [...new Set([...t.plan.forward, ...t.plan.backward, ...t.plan.loss, ...t.plan.optimizer].flatMap((op) => (op.kind === 'dispatch' ? [op.dispatch.kernel] : [])))];
/** Each group of kernels timed together: its name, and the kernels of its ops in the first and the second variant. */
const groups: { name: string; kernels: [string[], string[]] }[] =
  compare === 'paths'
    ? reductionKernels.map((k) => ({ name: k, kernels: [[k], [k]] }))
    : compare === 'fusion'
      ? [{ name: 'gate softmax + mixture', kernels: [['gate_softmax', 'mixture'], ['gate_mixture']] }]
      : kernelsOf(variants[0].trainer).map((k) => ({ name: k, kernels: [[k], [k]] }));
const opsOf = (t: Trainer, kernels: string[]): Op[] =>
  [...t.plan.forward, ...t.plan.loss, ...t.plan.backward, ...t.plan.optimizer].filter((op) => op.kind === 'dispatch' && kernels.includes(op.dispatch.kernel));

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
    for (const g of groups) {
      const t = await timeOps(opsOf(v.trainer, g.kernels[variants.indexOf(v)]));
      const seen = v.kernels.get(g.name) ?? { ms: [], cpuMs: [] };
      seen.ms.push(t.ms);
      seen.cpuMs.push(t.cpuMs);
      v.kernels.set(g.name, seen);
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
const [a, b] = variants;
const row = (name: string, a: { ms: number[]; cpuMs: number[] }, b: { ms: number[]; cpuMs: number[] }, digits: number) => [
  name,
  fmt(median(a.cpuMs), digits), fmt(median(b.cpuMs), digits), fmt(median(b.cpuMs) / median(a.cpuMs), 2),
  fmt(median(a.ms), digits), fmt(median(b.ms), digits), fmt(median(b.ms) / median(a.ms), 2),
];
console.log(`\n${c.name}, medians of ${rounds} rounds (load ${loadavg()[0].toFixed(2)} at the end); a kernel's time is all its dispatches in one step; ratio = second / first:\n`);
console.log(
  mdTable(
    ['', `${a.name} CPU ms`, `${b.name} CPU ms`, 'ratio', `${a.name} wall ms`, `${b.name} wall ms`, 'ratio'],
    [...groups.map((g) => row(g.name, a.kernels.get(g.name)!, b.kernels.get(g.name)!, 3)), row('step', a, b, 1)],
  ),
);
process.exit(0);
