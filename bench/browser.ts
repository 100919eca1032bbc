/**
 * `npm run bench`: one headless Chromium session, one adapter. Serves
 * bench/browser/ with Vite (its own root, no config file), opens it with
 * Playwright, and times a full PLE training step of this runtime on WebGPU and on
 * its CPU device (WebAssembly SIMD), of TensorFlow.js on `webgpu` and of
 * TensorFlow.js on `cpu` — same model, same initial parameters, same batch. Writes the `browser` section of
 * results/bench.md and results/bench.json.
 *
 * Flags:
 *   --profile          per-kernel time of this runtime's step (timestamp-query)
 *   --tune             tune the GEMM on the adapter first (src/tuning.ts)
 *   --steps N          timed steps of this runtime on bench-small (default 20)
 *   --cpu-threads N    the CPU device's threads (default: a thread per core, at most 16; the page is cross-origin isolated)
 *   --tfjs-warmup N    tfjs warm-up steps (default 2); --tfjs-steps N timed steps (default 5)
 * Every system times at least 5 steps, and the loss column reports, for every system of a config,
 * the loss of the same step (the last step of the shortest run).
 *   --no-2048          skip bench-small@2048 (bench-small at batch 2048: every system, PyTorch too)
 *   --no-large         skip bench-large; --large-tfjs also run tfjs-webgpu on bench-large on a software adapter
 *   --no-pytorch       skip the PyTorch CPU peer (bench/pytorch.ts), timed on bench-small (and @2048) after the page runs,
 *                      with torch's default threads (every CPU) and with one thread (OpenBLAS's threads cost more than
 *                      they gain on these small products on a 2-core host); the ratio is given against each
 *   --pytorch-steps N  its timed steps (default 20)
 *   --no-write         print, write nothing
 */
import { availableParallelism, loadavg } from 'node:os';
import { benchConfigs, CPU_SYSTEM, gemmShareLine, cpuProfileKey, isCpuSystem, buildBenchSpec, describeConfig, stepFlops, fmt, mdTable, profileOpsTable, profileTable, type StepTiming } from './common.js';
import { commandLine, commit, writeResults } from './results.js';
import { chromiumArgs, openBenchPage, startBenchServer } from './page.js';
import type { PageOptions, PageResult, PageRun } from './browser/main.js';
import { timePytorch } from './pytorch.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const value = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const started = new Date();
const loadStart = loadavg()[0];

const { server, url } = await startBenchServer();
const bench = await openBenchPage(url);
const { browser, page } = bench;
let exitCode = 0;
try {
  const info = await page.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    return a ? { isFallback: Boolean((a.info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter), architecture: a.info.architecture } : null;
  });
  if (!info) throw new Error('navigator.gpu.requestAdapter() gave no adapter in the page');
  const software = info.isFallback || info.architecture === 'swiftshader';

  // The CPU device on its default threads (a thread per core) and, as PyTorch runs below, on one thread too.
  const cpuRuns = (run: PageRun): PageRun[] => (flag('--cpu-threads') || availableParallelism() === 1 ? [run] : [run, { ...run, cpuThreads: 1 }]);
  const tw = value('--tfjs-warmup', 2);
  const ts = value('--tfjs-steps', 5);
  const runs: PageRun[] = [
    { config: 'bench-small', system: 'ple-webgpu', warmup: 3, steps: value('--steps', 20) },
    ...cpuRuns({ config: 'bench-small', system: CPU_SYSTEM, warmup: 3, steps: value('--steps', 20) }),
    { config: 'bench-small', system: 'tfjs-webgpu', warmup: tw, steps: ts },
    { config: 'bench-small', system: 'tfjs-cpu', warmup: tw, steps: ts },
  ];
  if (!flag('--no-2048')) {
    // Larger batches: fewer, fuller dispatches; tfjs-webgpu takes tens of seconds a step here, so it times the minimum.
    runs.push(
      { config: 'bench-small@2048', system: 'ple-webgpu', warmup: 2, steps: software ? 5 : 20 },
      ...cpuRuns({ config: 'bench-small@2048', system: CPU_SYSTEM, warmup: 2, steps: 20 }),
      { config: 'bench-small@2048', system: 'tfjs-webgpu', warmup: 1, steps: software ? 5 : ts },
      { config: 'bench-small@2048', system: 'tfjs-cpu', warmup: 1, steps: ts },
    );
  }
  if (!flag('--no-large')) {
    runs.push({ config: 'bench-large', system: 'ple-webgpu', warmup: software ? 1 : 3, steps: software ? 5 : 20 });
    runs.push({ config: 'bench-large', system: CPU_SYSTEM, warmup: 1, steps: 5 });
    if (!software || flag('--large-tfjs')) runs.push({ config: 'bench-large', system: 'tfjs-webgpu', warmup: software ? 1 : tw, steps: software ? 5 : 10 });
  }
  const MIN_TIMED_STEPS = 5;
  for (const run of runs) {
    if (!(run.steps >= MIN_TIMED_STEPS)) throw new Error(`${run.system} on ${run.config}: ${run.steps} timed steps; every system needs at least ${MIN_TIMED_STEPS}`);
    // The loss column compares one step across the systems of a config: the last step of its shortest run.
    run.lossStep = Math.min(...runs.filter((r) => r.config === run.config).map((r) => r.warmup + r.steps));
  }
  const t0 = performance.now();
  const result: PageResult = { adapter: '', adapterInfo: {}, tfjsAdapter: '', userAgent: '', timestampQuery: false, timings: [], profiles: {}, tuning: {}, tuningBestGflops: {}, gemmShare: {}, errors: [] };
  for (const run of runs) {
    const options: PageOptions = { runs: [run], profile: flag('--profile'), tune: flag('--tune'), cpuThreads: flag('--cpu-threads') ? value('--cpu-threads', 1) : undefined };
    try {
      const r = await bench.run(options);
      result.adapter ||= r.adapter;
      result.adapterInfo = Object.keys(result.adapterInfo).length ? result.adapterInfo : r.adapterInfo;
      result.tfjsAdapter ||= r.tfjsAdapter;
      result.userAgent ||= r.userAgent;
      result.timestampQuery ||= r.timestampQuery;
      result.timings.push(...r.timings);
      Object.assign(result.profiles, r.profiles);
      Object.assign(result.tuning, r.tuning);
      Object.assign(result.tuningBestGflops, r.tuningBestGflops);
      Object.assign(result.gemmShare, r.gemmShare);
      result.errors.push(...r.errors);
    } catch (e) {
      // The page navigated or its renderer died (bench.run reloaded it): note it, go on with the next run.
      const msg = `${run.system} ${run.config}: the page failed (${(e as Error).message.split('\n')[0]})`;
      console.log(msg);
      result.errors.push(msg);
    }
  }
  const wallS = (performance.now() - t0) / 1000;
  // The PyTorch peer runs after the page, so the two never share the CPUs.
  if (!flag('--no-pytorch')) {
    for (const config of ['bench-small', 'bench-small@2048'].filter((name) => runs.some((r) => r.config === name))) {
      try {
        const pytorch = { warmup: 3, steps: value('--pytorch-steps', 20) };
        // Its loss column reports the same step as the page's systems on that config.
        const lossStep = Math.min(pytorch.warmup + pytorch.steps, ...runs.filter((r) => r.config === config).map((r) => r.warmup + r.steps));
        for (const threads of [...new Set([availableParallelism(), 1])]) result.timings.push(timePytorch(benchConfigs[config], { ...pytorch, lossStep, threads }));
      } catch (e) {
        const msg = `pytorch-cpu ${config}: ${(e as Error).message.split('\n')[0]}`;
        console.log(msg);
        result.errors.push(msg);
      }
    }
  }

  // ---- Report.
  const md: string[] = [];
  md.push(`## Browser (headless Chromium): ple-webgpu vs TensorFlow.js`);
  md.push('');
  md.push(`- Date: ${started.toISOString()}`);
  md.push(`- Adapter (this runtime): ${result.adapter}; tfjs-webgpu's adapter info: ${result.tfjsAdapter || 'n/a'}`);
  md.push(`- Browser: Chromium ${browser.version()} (${result.userAgent}), headless, flags \`${chromiumArgs.join(' ')}\``);
  md.push(`- Command: \`${commandLine()}\` (commit ${commit()}); page run ${fmt(wallS, 0)} s; host 1-min load average ${loadStart.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end (other processes sharing the 2 CPUs inflate wall times on a software adapter)`);
  md.push(`- Step: forward, BCE loss, backward, Adam (lr 1e-3); the same spec, initial parameters (seed 1) and batch in all three; timed steps are submitted back to back and synchronised by reading back the last step's loss. Warm-up steps (pipeline/shader creation) are excluded from ms/step and listed separately.`);
  md.push('');
  const byConfig = new Map<string, StepTiming[]>();
  for (const t of result.timings) byConfig.set(t.config, [...(byConfig.get(t.config) ?? []), t]);
  for (const [config, timings] of byConfig) {
    const c = benchConfigs[config];
    const ple = timings.find((t) => t.system === 'ple-webgpu');
    md.push(`### ${config}: ${describeConfig(c)}`);
    md.push('');
    md.push(
      mdTable(
        ['system', 'ms / step', 'steps / s', 'ple-webgpu speed-up (their ms ÷ ours)', 'timed steps', 'warm-up steps (ms each)', 'setup ms', 'loss at step 1', `loss at step ${timings[0].lossAt.step} (same step for every system)`],
        timings.map((t) => [
          t.system, fmt(t.msPerStep), fmt(t.stepsPerSec, 3), ple ? `${fmt(t.msPerStep / ple.msPerStep, 2)}×` : 'n/a', t.steps,
          t.warmupMs.map((m) => fmt(m, 0)).join(', '), fmt(t.createMs, 0), t.firstLoss.toFixed(6), t.lossAt.step === timings[0].lossAt.step ? t.lossAt.loss.toFixed(6) : `${t.lossAt.loss.toFixed(6)} (step ${t.lossAt.step})`,
        ]),
      ),
    );
    md.push('');
    if (ple) {
      const tw = timings.find((t) => t.system === 'tfjs-webgpu');
      const tc = timings.find((t) => t.system === 'tfjs-cpu');
      if (tw) md.push(`- ple-webgpu vs tfjs-webgpu: **${fmt(tw.msPerStep / ple.msPerStep)}×** the steps/s (target ≥ 40×: ${tw.msPerStep / ple.msPerStep >= 40 ? 'met' : 'NOT met'}).`);
      if (tc) md.push(`- ple-webgpu vs tfjs-cpu: **${fmt(tc.msPerStep / ple.msPerStep, 2)}×** (target > 1×: ${tc.msPerStep > ple.msPerStep ? 'met' : 'NOT met'}).`);
      const cpus = timings.filter((t) => isCpuSystem(t.system));
      for (const cpu of cpus) md.push(`- ${cpu.system} vs ple-webgpu on WebGPU (this adapter), same page: **${fmt(ple.msPerStep / cpu.msPerStep, 2)}×** the steps/s.`);
      // The page's fastest device is what a user of this machine trains with (--device auto picks the CPU device on a software adapter).
      const fastest = [ple, ...cpus].reduce((a, b) => (b.msPerStep < a.msPerStep ? b : a));
      for (const pt of timings.filter((t) => t.system.startsWith('pytorch-cpu'))) {
        for (const t of [ple, ...cpus]) {
          const target = t === fastest ? ` (target ≥ 1× for the page's faster device: ${pt.msPerStep >= t.msPerStep ? 'met' : 'NOT met'})` : '';
          md.push(`- ${t.system} vs ${pt.system} on this machine's CPU (outside the page; ${pt.note}): **${fmt(pt.msPerStep / t.msPerStep, 2)}×**${target}.`);
        }
      }
      const same = timings.filter((t) => t !== ple).map((t) => `${t.system} ${(Math.abs(t.firstLoss - ple.firstLoss) / Math.abs(ple.firstLoss)).toExponential(1)}`);
      if (same.length) md.push(`- Same model check: relative difference of the step-1 loss from ple-webgpu's: ${same.join(', ')}.`);
      if (ple.memory) md.push(`- GPU memory: plan ${(ple.memory.planBytes / 1024).toFixed(1)} KiB (${Object.entries(ple.memory.plan).map(([k, v]) => `${k} ${(v / 1024).toFixed(1)} KiB`).join(', ')}); ctx.liveBytes with the trainer: ${(ple.memory.liveBytes / 1024).toFixed(1)} KiB.`);
      if (result.tuning[config]) md.push(`- GEMM tuning: ${result.tuning[config]}.`);
      const flops = stepFlops(buildBenchSpec(c), c.batchSize).total;
      const rate = flops / ple.msPerStep / 1e6;
      const best = result.tuningBestGflops[config];
      md.push(
        `- Step rate: ${fmt(flops / 1e6, 0)} MFLOP of matrix products per step (GEMMs + gate logits) in ${fmt(ple.msPerStep)} ms = ${fmt(rate, 2)} GFLOP/s` +
          (best ? `; the tuner's best-of-runs rate over the step's GEMMs was ${fmt(best, 2)} GFLOP/s (${fmt((100 * rate) / best)}% of it; the line below is the target's measure).` : '.'),
      );
      const share = result.gemmShare[config];
      if (share) md.push(`- ${gemmShareLine(ple.system, share)}`);
      for (const cpu of cpus) {
        const share = result.gemmShare[cpuProfileKey(config, cpu.system)];
        if (share) md.push(`- ${gemmShareLine(cpu.system, share)}`);
      }
      if (config === 'bench-large' && !timings.some((t) => t.system !== 'ple-webgpu')) md.push(`- On this software adapter bench-large runs for ple-webgpu only, with ${ple.warmupMs.length} warm-up and ${ple.steps} timed steps (tfjs would take minutes per step; --large-tfjs adds it).`);
      md.push('');
    }
    for (const cpuTiming of timings.filter((t) => isCpuSystem(t.system))) {
      const cpuProfile = result.profiles[cpuProfileKey(config, cpuTiming.system)];
      if (!cpuProfile) continue;
      md.push(`#### ${cpuTiming.system}, ${config}, step by kernel (${cpuProfile.method}, each op timed alone; sum ${fmt(cpuProfile.totalMs)} ms vs ${fmt(cpuTiming.msPerStep)} ms/step wall; outside GEMMs ${fmt(100 * cpuProfile.outsideGemmShare)}%)`);
      md.push('');
      md.push(profileTable(cpuProfile));
      md.push('');
    }
    const profile = result.profiles[config];
    if (profile) {
      md.push(`#### ple-webgpu ${config} step by kernel (${profile.method}, each dispatch in its own pass; sum ${fmt(profile.totalMs)} ms vs ${fmt(ple?.msPerStep ?? NaN)} ms/step wall; outside GEMMs ${fmt(100 * profile.outsideGemmShare)}%)`);
      md.push('');
      md.push(profileTable(profile));
      md.push('');
      md.push('<details><summary>per op</summary>\n');
      md.push(profileOpsTable(profile));
      md.push('\n</details>\n');
    }
  }
  if (result.errors.length) {
    md.push(`### Errors`);
    md.push('');
    for (const e of result.errors) md.push(`- ${e.split('\n')[0]}`);
    md.push('');
    exitCode = 1;
  }
  const text = md.join('\n');
  console.log(`\n${text}`);
  if (!flag('--no-write')) {
    const json = { date: started.toISOString(), command: commandLine(), commit: commit(), chromium: browser.version(), chromiumArgs, ...result };
    console.log(`wrote ${writeResults('browser', text, 'bench.json', json)}`);
  }
} finally {
  await browser.close();
  await server.close();
}
process.exit(exitCode);
