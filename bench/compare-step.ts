/**
 * `npm run bench:compare -- --base DIR`: the bench-small PLE training step of this tree
 * and of another checkout of the project (DIR, e.g. an earlier commit unpacked with
 * `git archive REV | tar -x -C DIR`) on one device, timed in alternation, so both see the
 * same load on a shared host. Both use the adapter's default GEMM tuning. Besides wall time it
 * reports the process's CPU time per step (user + system, SwiftShader's threads included), which
 * on a software adapter is the work done and is far less swayed by other load than wall time.
 * Writes the `compare` section of results/bench.md (unless --no-write).
 *
 * Flags: --base DIR (required), --base-rev REV (what DIR holds, for the report), --rounds N
 * (default 10), --steps N per round (default 20), --config NAME (default bench-small), --no-write.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadavg } from 'node:os';
import { acquireNodeDevice, formatAdapter } from '../src/node.js';
import { Trainer } from '../src/trainer.js';
import { benchBatch, benchConfigs, describeConfig, fmt, mdTable, median, modelConfig } from './common.js';
import { commandLine, commit, writeResults } from './results.js';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const baseDir = option('--base');
if (!baseDir) throw new Error('--base DIR: a checkout of the project to compare against is required');
const baseRev = option('--base-rev') ?? 'unnamed';
const rounds = Number(option('--rounds') ?? 10);
const steps = Number(option('--steps') ?? 20);
const c = benchConfigs[option('--config') ?? 'bench-small'];
if (!c) throw new Error(`--config: no benchmark config named ${option('--config')}`);

const ctx = await acquireNodeDevice();
const base = (await import(pathToFileURL(join(resolve(baseDir), 'src/trainer.ts')).href)) as { Trainer: typeof Trainer };
const batch = benchBatch(c);
const create = (T: typeof Trainer) => T.create(ctx, modelConfig(c), { batchSize: c.batchSize, seed: 1, optimizer: { kind: 'adam', lr: 1e-3 } });
const systems = [
  { name: `base (${baseRev})`, trainer: await create(base.Trainer), ms: [] as number[], cpuMs: [] as number[], lastLoss: NaN },
  { name: 'this tree', trainer: await create(Trainer), ms: [] as number[], cpuMs: [] as number[], lastLoss: NaN },
];
// Same parameters, same batch: the first step's loss must agree.
const first = await Promise.all(systems.map(async (s) => (await s.trainer.step(batch)).total));
console.log(`first-step loss: base ${first[0]}, this tree ${first[1]}`);
for (const s of systems) for (let i = 0; i < 3; i++) await s.trainer.step(batch);

const loadStart = loadavg()[0];
for (let r = 0; r < rounds; r++) {
  // Alternate which goes first, so neither always follows the other.
  for (const s of r % 2 === 0 ? systems : [...systems].reverse()) {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let last: Promise<{ total: number }> | null = null;
    for (let i = 0; i < steps; i++) last = s.trainer.step(batch);
    s.lastLoss = (await last!).total;
    s.ms.push((performance.now() - t0) / steps);
    const cpu = process.cpuUsage(cpu0);
    s.cpuMs.push((cpu.user + cpu.system) / 1000 / steps);
  }
  console.log(`round ${r + 1}: ${systems.map((s) => `${s.name} ${fmt(s.ms[r])} ms/step (CPU ${fmt(s.cpuMs[r])} ms)`).join(', ')}`);
}
const rows = systems.map((s) => [s.name, fmt(median(s.ms)), fmt(Math.min(...s.ms)), fmt(Math.max(...s.ms)), fmt(median(s.cpuMs)), fmt(Math.min(...s.cpuMs)), fmt(Math.max(...s.cpuMs))]);
const ratio = median(systems[1].ms) / median(systems[0].ms);
const cpuRatio = median(systems[1].cpuMs) / median(systems[0].cpuMs);
const pairRatios = systems[0].ms.map((b, i) => systems[1].ms[i] / b);
const cpuPairRatios = systems[0].cpuMs.map((b, i) => systems[1].cpuMs[i] / b);
const md = [
  `## This tree against another checkout, ${c.name}`,
  '',
  `\`${commandLine().replace(baseDir, 'DIR')}\` at ${commit()}, DIR holding ${baseRev}. ${formatAdapter(ctx.adapter)}; ${describeConfig(c)}; default GEMM tuning; ` +
    `${rounds} rounds of ${steps} steps each, the two trainers alternating on one device; load average ${fmt(loadStart)} at the start, ${fmt(loadavg()[0])} at the end.`,
  '',
  mdTable(['', 'wall ms/step (median)', 'fastest round', 'slowest round', 'CPU ms/step (median)', 'least', 'most'], rows),
  '',
  `This tree / base: wall ${fmt(ratio, 3)} (medians), per-round ratios ${fmt(median(pairRatios), 3)} median (${fmt(Math.min(...pairRatios), 3)} to ${fmt(Math.max(...pairRatios), 3)}); ` +
    `CPU ${fmt(cpuRatio, 3)} (medians), per-round ratios ${fmt(median(cpuPairRatios), 3)} median (${fmt(Math.min(...cpuPairRatios), 3)} to ${fmt(Math.max(...cpuPairRatios), 3)}). Loss of the first step ${first[0]} (base), ${first[1]} (this tree); of the last ${systems[0].lastLoss} (base), ${systems[1].lastLoss} (this tree), after the same steps on the same batch.`,
  '',
].join('\n');
console.log(`\n${md}`);
if (!args.includes('--no-write')) console.log(`wrote ${writeResults('compare', md, 'bench-compare.json', { config: c.name, base: baseRev, rounds, steps, ms: Object.fromEntries(systems.map((s) => [s.name, s.ms])), cpuMs: Object.fromEntries(systems.map((s) => [s.name, s.cpuMs])), first, last: systems.map((s) => s.lastLoss) })}`);
for (const s of systems) s.trainer.destroy();
process.exit(0);
