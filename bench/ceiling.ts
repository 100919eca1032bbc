/**
 * `npm run bench:ceiling`: how fast this adapter can run a register-tiled GEMM's inner loop at all,
 * against the rate native PyTorch reaches on the whole training step on this machine's CPU. The
 * kernels (bench/ceiling-kernels.ts) run the GEMM's 8x8 tile update with operands from registers
 * (no memory: the arithmetic ceiling of any WGSL kernel built this way), loaded per invocation, or
 * loaded from one address, in Node (the CLI's device: robustness off) and in headless Chromium
 * (robustness on, as every page has it; and off, by Chromium's --enable-dawn-features flag), in
 * alternating rounds. PyTorch times bench-small's step (bench/pytorch.ts) with torch's default
 * threads and with one. Writes the `ceiling` section of results/bench.md and results/bench-ceiling.json.
 *
 * Flags: --rounds N (default 3), --no-pytorch, --no-write.
 */
import { availableParallelism, loadavg } from 'node:os';
import { acquireNodeDevice, formatAdapter } from '../src/node.js';
import { benchConfigs, buildBenchSpec, fmt, mdTable, median, stepFlops } from './common.js';
import { ceilingKernels, timeCeilingKernels, type CeilingTiming } from './ceiling-kernels.js';
import { openBenchPage, startBenchServer } from './page.js';
import { timePytorch } from './pytorch.js';
import { commandLine, commit, writeResults } from './results.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const rounds = (() => {
  const i = args.indexOf('--rounds');
  return i >= 0 ? Number(args[i + 1]) : 3;
})();
const started = new Date();
const loadStart = loadavg()[0];

const hosts = ['Node (robustness off, the CLI)', 'page (robustness on, every page)', 'page (robustness off)'] as const;
type Host = (typeof hosts)[number];
const runs = new Map<Host, CeilingTiming[][]>(hosts.map((h) => [h, []]));
const node = await acquireNodeDevice({ robustness: false });
const adapter = formatAdapter(node.adapter);
const { server, url } = await startBenchServer();
try {
  for (let r = 0; r < rounds; r++) {
    runs.get(hosts[0])!.push(await timeCeilingKernels(node.device));
    for (const [host, extra] of [[hosts[1], []], [hosts[2], ['--enable-dawn-features=disable_robustness']]] as const) {
      const page = await openBenchPage(`${url}ceiling.html`, [...extra], () => {});
      try {
        const result = await page.page.evaluate(() => (window as unknown as { runCeiling: () => Promise<{ timings: CeilingTiming[] }> }).runCeiling());
        runs.get(host)!.push(result.timings);
      } finally {
        await page.browser.close();
      }
    }
    console.log(`round ${r + 1} of ${rounds} done`);
  }
} finally {
  await server.close();
}
const gflops = (host: Host, kernel: string) => median(runs.get(host)!.map((ts) => ts.find((t) => t.kernel === kernel)!.gflops));

const small = benchConfigs['bench-small'];
const flops = stepFlops(buildBenchSpec(small), small.batchSize).total;
const pytorch = flag('--no-pytorch')
  ? []
  : [...new Set([availableParallelism(), 1])].map((threads) => timePytorch(small, { warmup: 3, steps: 40, threads }));

const md: string[] = [];
md.push('## Adapter ceiling: the GEMM inner loop alone, against PyTorch on the CPU');
md.push('');
md.push(`- Date: ${started.toISOString()}; command: \`${commandLine()}\` (commit ${commit()}); ${rounds} alternating rounds, medians; host 1-min load average ${loadStart.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end`);
md.push(`- Adapter: ${adapter}`);
md.push(
  '- Kernels (bench/ceiling-kernels.ts): 2,048 invocations in workgroups of 4, each running 2,048 values of k of an 8x8 register tile, 64 FMAs per k (the GEMM\'s inner loop); the 16 operands per k come from registers (no memory access at all), from a 16 KiB storage buffer at addresses that differ between invocations (as B in the GEMM), or from one address for all (as A). Loads hit L1: what is timed is the instructions.',
);
md.push('');
md.push(mdTable(['kernel', ...hosts.map((h) => `${h} GFLOP/s`)], ceilingKernels.map((k) => [k.name, ...hosts.map((h) => fmt(gflops(h, k.name), 2))])));
md.push('');
const best = (kernel: string) => Math.max(...hosts.map((h) => gflops(h, kernel)));
const ceiling = best('registers, 4 k per trip');
const withLoads = Math.max(best('per-invocation loads, 1 k per trip'), best('per-invocation loads, 4 k per trip'));
const stepMs = (rate: number) => flops / rate / 1e6;
md.push(
  `bench-small's step has ${fmt(flops / 1e6, 0)} MFLOP of matrix products (GEMMs + gate logits). At the best register-only rate above (${fmt(ceiling, 2)} GFLOP/s: no loads, no stores, nothing but the tile's FMAs) they alone would take **${fmt(stepMs(ceiling), 1)} ms** per step; at the best rate with the GEMM's per-invocation loads (${fmt(withLoads, 2)} GFLOP/s), **${fmt(stepMs(withLoads), 1)} ms**.`,
);
md.push('');
if (pytorch.length) {
  md.push(
    mdTable(
      ['PyTorch on this CPU, bench-small step', 'ms / step', 'matrix GFLOP/s (same FLOP count)', 'products alone at the register-only ceiling, vs its step', 'products alone with per-invocation loads, vs its step'],
      pytorch.map((t) => [t.system, fmt(t.msPerStep), fmt(flops / t.msPerStep / 1e6, 2), `${fmt(stepMs(ceiling) / t.msPerStep, 2)}× its time`, `${fmt(stepMs(withLoads) / t.msPerStep, 2)}× its time`]),
    ),
  );
  md.push('');
  md.push(`- ${(pytorch[0].note ?? 'PyTorch').replace(/, \d+ threads?,/, ',')}.`);
  md.push('');
}
md.push(
  'Each invocation runs as one lane of a 4-wide SIMD register of the adapter\'s JIT. A load whose address differs between lanes (every index a GEMM computes from its invocation or its loop) costs about as much as the FMAs it feeds; the same floats read as vec4s (four adjacent per lane) go somewhat faster, which a GEMM could use only where an operand\'s row is contiguous (B of the forward and weight-gradient products). A loop trip costs about as much as 64 FMAs unless several values of k share it. The GEMM variants the tuner times (browser and Node sections) run at about the per-invocation-loads rate. Where PyTorch runs its products faster than the register-only ceiling, no WGSL kernel on this adapter can match its step; where it runs them faster than the per-invocation-loads rate, a GEMM that loads its operands the way this one must cannot.',
);
const text = md.join('\n');
console.log(`\n${text}`);
if (!flag('--no-write')) {
  const json = { date: started.toISOString(), command: commandLine(), commit: commit(), adapter, rounds, runs: Object.fromEntries(runs), stepFlops: flops, pytorch };
  console.log(`wrote ${writeResults('ceiling', text, 'bench-ceiling.json', json)}`);
}
process.exit(0);
