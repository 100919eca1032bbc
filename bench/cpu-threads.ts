/**
 * `npm run bench:cpu-threads`: the CPU device's training step (src/cpu/) on 1 thread against more
 * (its GEMMs split over a worker pool, src/cpu/pool.ts), in one Node process: one trainer per
 * thread count, timed in alternating rounds so that load from elsewhere on the host falls on all
 * of them alike. Prints ms/step per round, the medians and their ratio, and whether every thread
 * count reached bit-identical losses (they must). Prints only; writes nothing.
 *
 * Flags: --threads 1,2 (thread counts; default 1 and the host's cores, at most 16),
 * --configs bench-small,bench-small@2048, --rounds N (default 5), --steps N (timed steps per round, default 20),
 * --profile (then each thread count's step by kernel: ms per op kind, each op's fastest of 5 profiled steps).
 */
import { availableParallelism, loadavg } from 'node:os';
import { CpuDevice } from '../src/cpu/device.js';
import { MAX_CPU_THREADS } from '../src/cpu/threads.js';
import { Trainer } from '../src/trainer.js';
import { benchBatch, benchConfigs, describeConfig, mdTable, median, modelConfig, profileCpuStep } from './common.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const threadCounts = option('--threads', `1,${Math.min(availableParallelism(), MAX_CPU_THREADS)}`).split(',').map(Number);
if (!threadCounts.every((t) => Number.isInteger(t) && t >= 1 && t <= MAX_CPU_THREADS)) throw new Error(`--threads takes whole numbers from 1 to ${MAX_CPU_THREADS}, comma-separated, e.g. 1,2`);
const configs = option('--configs', 'bench-small,bench-small@2048').split(',').map((name) => {
  const c = benchConfigs[name];
  if (!c) throw new Error(`unknown config ${name}; one of ${Object.keys(benchConfigs).join(', ')}`);
  return c;
});
const rounds = Number(option('--rounds', '5'));
const steps = Number(option('--steps', '20'));
const profile = args.includes('--profile');

console.log(`${availableParallelism()} cores, load average ${loadavg()[0].toFixed(2)} at the start; ${rounds} rounds of ${steps} steps, thread counts alternating within each round.\n`);
for (const c of configs) {
  const batch = benchBatch(c);
  const runs: { device: CpuDevice; trainer: Trainer; ms: number[]; losses: number[] }[] = [];
  for (const threads of threadCounts) {
    const device = await CpuDevice.create({ threads });
    const trainer = await Trainer.create(device, modelConfig(c), { batchSize: c.batchSize, seed: 1, optimizer: { kind: 'adam', lr: 1e-3 } });
    for (let i = 0; i < 3; i++) await trainer.step(batch);
    runs.push({ device, trainer, ms: [], losses: [] });
  }
  for (let round = 0; round < rounds; round++) {
    for (const run of runs) {
      const t0 = performance.now();
      for (let s = 0; s < steps; s++) run.losses.push((await run.trainer.step(batch)).total);
      run.ms.push((performance.now() - t0) / steps);
    }
  }
  const base = median(runs[0].ms);
  const identical = runs.every((r) => r.losses.every((l, i) => Object.is(l, runs[0].losses[i])));
  console.log(`${c.name} (${describeConfig(c)}):\n`);
  console.log(
    mdTable(
      ['threads', 'ms/step (median)', `× ${threadCounts[0]} thread${threadCounts[0] > 1 ? 's' : ''}`, 'each round'],
      runs.map((r) => [r.device.describeThreads(), median(r.ms).toFixed(2), (base / median(r.ms)).toFixed(2), r.ms.map((m) => m.toFixed(2)).join(', ')]),
    ),
  );
  console.log(`\nlosses over all ${runs[0].losses.length} steps bit for bit the same on every thread count: ${identical ? 'yes' : 'NO'}\n`);
  if (profile) {
    const profiles = runs.map((r) => profileCpuStep(r.trainer, 5));
    const kernels = profiles[0].byKernel.map((k) => k.kernel);
    const ms = (p: (typeof profiles)[number], kernel: string) => p.byKernel.find((k) => k.kernel === kernel)?.ms ?? 0;
    console.log(`${c.name} step by kernel (ms; each op's fastest of 5 profiled steps):\n`);
    console.log(
      mdTable(
        ['kernel', ...runs.map((r) => r.device.describeThreads()), `× ${threadCounts[0]} thread${threadCounts[0] > 1 ? 's' : ''}`],
        [...kernels, 'total'].map((k) => {
          const values = profiles.map((p) => (k === 'total' ? p.totalMs : ms(p, k)));
          return [k, ...values.map((v) => v.toFixed(3)), values.slice(1).map((v) => (values[0] / v).toFixed(2)).join(', ')];
        }),
      ),
    );
    console.log('');
  }
  for (const r of runs) r.trainer.destroy();
}
