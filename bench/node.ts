/**
 * `npm run bench:node`: the training step through Dawn in Node, the batched
 * expert GEMM's GFLOP/s (forward, dX, dW; every tuning variant beside a naive
 * one-output-per-invocation kernel), the share of a step's time outside GEMMs
 * per shape, the step's rate against the best GEMM variant, the same steps on the CPU
 * device beside WebGPU (interleaved, with the CPU device's per-kernel profile), and GPU
 * memory over 1,000 steps. Writes the `node` section of results/bench.md and results/bench-node.json.
 *
 * Flags: --profile (per-op table of bench-small's step), --large (bench-large
 * shapes on a software adapter too), --memory-steps N (default 1000), --robustness (keep Dawn's
 * bounds clamping on, as a page has it; default off, as the CLI's device), --no-write.
 */
import naiveSource from './naive_gemm.wgsl?raw';
import { acquireNodeDevice, CpuDevice, formatAdapter } from '../src/node.js';
import type { GpuContext } from '../src/gpu/context.js';
import { GEMM_DESCRIPTOR, gemmDispatch, gemmTuningFor, type GemmTuning } from '../src/kernels/batched_gemm.js';
import { createDispatch, encodeOps, type Dispatch } from '../src/kernels/dispatch.js';
import { defaultGemmCandidates, gemmFlops, layoutShape, stepGemmShapes, tuneGemmPerDispatch, tuningFits, tuningKey, type GemmShape, type GemmTuningChooser } from '../src/tuning.js';
import {
  benchBatch, benchConfigs, buildBenchSpec, gemmShareLine, stepVsGemms, cpuSystem, describeConfig, fmt, mdTable, median, profileCpuStep, profileOpsTable, profileStep, profileTable, stepFlops, timeRuntime,
  type BenchConfig, type GemmShare, type StepProfile, type StepTiming,
} from './common.js';
import { loadavg } from 'node:os';
import { commandLine, commit, writeResults } from './results.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const value = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const log = (s: string) => console.log(s);

const robustness = flag('--robustness');
const ctx = await acquireNodeDevice({ robustness });
const adapter = formatAdapter(ctx.adapter);
const software = ctx.adapter.isFallback || ctx.adapter.architecture === 'swiftshader';
log(`adapter: ${adapter}; timestamp-query ${ctx.device.features.has('timestamp-query') ? 'on' : 'off'}`);
const started = new Date();
const loadStart = loadavg()[0];

// ---- GEMM microbenchmark.

const small = benchConfigs['bench-small'];
const large = benchConfigs['bench-large'];
const withLarge = !software || flag('--large');
const pick = (c: BenchConfig, names: string[]) => stepGemmShapes(buildBenchSpec(c), c.batchSize).filter((s) => names.includes(s.name)).map((s) => ({ ...s, name: `${c.name} ${s.name}` }));
const square = (n: number): GemmShape[] =>
  (['forward', 'dX', 'dW'] as const).map((layout) => ({ name: `${n}³ ${layout}`, layout, entries: [{ m: n, n, k: n }] }));
const microShapes: GemmShape[] = [
  ...pick(small, ['level0.layer0', 'level0.layer0.dW', 'level1.layer0', 'level1.layer0.dX', 'level1.layer0.dW']),
  ...square(256),
  ...(withLarge ? [...pick(large, ['level0.layer0', 'level0.layer0.dW', 'level1.layer0.dX']), ...square(1024)] : []),
];

function naiveDispatch(ctx: GpuContext, shape: GemmShape, buffers: { a: GPUBuffer; b: GPUBuffer; c: GPUBuffer }): Promise<Dispatch> {
  const { entries } = layoutShape(shape);
  const packed = entries.map((e) => ({ ...e, flags: 0, biasOff: 0 }));
  const maxM = Math.max(...entries.map((e) => e.m));
  const maxN = Math.max(...entries.map((e) => e.n));
  return createDispatch(ctx, {
    kernel: 'naive_gemm',
    name: shape.name,
    source: `${GEMM_DESCRIPTOR.wgsl}\n\n${naiveSource}`,
    descriptors: GEMM_DESCRIPTOR.pack(packed),
    bindings: [buffers.a, buffers.b, buffers.c],
    grid: [Math.ceil(maxN / 16), Math.ceil(maxM / 16), entries.length],
  });
}

async function timeDispatch(d: Dispatch, repeats: number): Promise<number> {
  const once = async () => {
    const encoder = ctx.device.createCommandEncoder();
    encodeOps(encoder, [{ kind: 'dispatch', dispatch: d }], 'gemm bench');
    ctx.device.queue.submit([encoder.finish()]);
    await ctx.device.queue.onSubmittedWorkDone();
  };
  await once();
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await once();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

const variants: GemmTuning[] = [];
for (const t of [gemmTuningFor(ctx.adapter), ...defaultGemmCandidates]) if (!variants.some((v) => tuningKey(v) === tuningKey(t))) variants.push(t);
const gemmRows: { shape: string; kind: string; entries: string; flops: number; naive: number; variants: Record<string, number>; best: string }[] = [];
for (const shape of microShapes) {
  const { aLen, bLen, cLen } = layoutShape(shape);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const a = ctx.createDataBuffer('bench A', fill(aLen), usage);
  const b = ctx.createDataBuffer('bench B', fill(bLen), usage);
  const c = ctx.createBuffer('bench C', cLen * 4, usage);
  const flops = gemmFlops([shape]);
  const gf = (ms: number) => flops / ms / 1e6;
  const repeats = flops > 2e9 ? 1 : 5;
  const nd = await naiveDispatch(ctx, shape, { a, b, c });
  const naive = gf(await timeDispatch(nd, repeats));
  nd.owned.forEach((x) => ctx.destroyBuffer(x));
  const results: Record<string, number> = {};
  for (const t of variants) {
    if (!tuningFits(ctx, t, [shape])) continue;
    const d = await gemmDispatch(ctx, shape.name, layoutShape(shape).entries, { a, b, c }, t);
    results[tuningKey(t)] = gf(await timeDispatch(d, repeats));
    d.owned.forEach((x) => ctx.destroyBuffer(x));
  }
  [a, b, c].forEach((x) => ctx.destroyBuffer(x));
  const best = Object.entries(results).sort((x, y) => y[1] - x[1])[0][0];
  const e = shape.entries[0];
  gemmRows.push({ shape: shape.name, kind: shape.layout, entries: `${shape.entries.length} × ${e.m}×${e.n}×${e.k}`, flops, naive, variants: results, best });
  log(`GEMM ${shape.name.padEnd(28)} naive ${fmt(naive, 2)} GFLOP/s, best ${best} ${fmt(results[best], 2)} GFLOP/s`);
}

// ---- One tuning for every GEMM of the plan (what PlanOptions.gemmTuning takes) vs the best variant per GEMM.

const perShape: { label: string; best: string; bestMs: number; ms: Record<string, number> }[] = [];
{
  const shapes = stepGemmShapes(buildBenchSpec(small), small.batchSize);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  for (const shape of shapes) {
    const { aLen, bLen, cLen, entries } = layoutShape(shape);
    const a = ctx.createBuffer('A', aLen * 4, usage);
    const b = ctx.createBuffer('B', bLen * 4, usage);
    const c = ctx.createBuffer('C', cLen * 4, usage);
    const ms: Record<string, number> = {};
    for (const t of variants) {
      if (!tuningFits(ctx, t, [shape])) continue;
      const d = await gemmDispatch(ctx, shape.name, entries, { a, b, c }, t);
      ms[tuningKey(t)] = await timeDispatch(d, 5);
      d.owned.forEach((x) => ctx.destroyBuffer(x));
    }
    [a, b, c].forEach((x) => ctx.destroyBuffer(x));
    const [best, bestMs] = Object.entries(ms).sort((x, y) => x[1] - y[1])[0];
    perShape.push({ label: shape.name, best, bestMs, ms });
  }
}
const perShapeTotal = perShape.reduce((a, r) => a + r.bestMs, 0);
const singleTotals = variants.map((v) => ({ key: tuningKey(v), ms: perShape.reduce((a, r) => a + (r.ms[tuningKey(v)] ?? Infinity), 0) })).sort((x, y) => x.ms - y.ms);
log(`bench-small GEMMs one by one: best single tuning ${singleTotals[0].key} ${fmt(singleTotals[0].ms)} ms, best per GEMM ${fmt(perShapeTotal)} ms`);

// ---- Training steps: tuning, timing, profile, rate against the best GEMM variant.

interface StepReport {
  config: BenchConfig;
  /** The tuner's result (tuneGemmPerDispatch, as the CLI): the per-dispatch set, the best single tuning, their rates over the step's GEMMs together, and which the step runs with. */
  winner: 'perDispatch' | 'single';
  perDispatch: string[];
  perDispatchGflops: number;
  tuning: GemmTuning;
  singleGflops: number;
  defaultTuning: GemmTuning;
  timing: StepTiming;
  flops: ReturnType<typeof stepFlops>;
  stepGflops: number;
  /** Step FLOPs over the summed GPU time of its ops (the profile), i.e. without host/queue gaps. */
  gpuTimeGflops: number;
  bestGemmGflops: number;
  rateVsBestGemm: number;
  profile: StepProfile;
  /** What the step ran with (the tuner's chooser), for the device comparison below. */
  choose: GemmTuningChooser;
  /** The step against its own GEMM dispatches alone, alternating rounds (the 80% target's measure); none for bench-large on a software adapter. */
  share: GemmShare | null;
}

const stepConfigs: { c: BenchConfig; warmup: number; steps: number }[] = [
  { c: small, warmup: 3, steps: 20 },
  { c: { ...small, name: 'bench-small@128', batchSize: 128 }, warmup: 3, steps: 20 },
  { c: benchConfigs['bench-small@2048'], warmup: 2, steps: software ? 5 : 20 },
  ...(withLarge ? [{ c: large, warmup: software ? 1 : 3, steps: software ? 2 : 20 }] : []),
];
const steps: StepReport[] = [];
let smallProfile: StepProfile | null = null;
for (const { c, warmup, steps: n } of stepConfigs) {
  const spec = buildBenchSpec(c);
  const shapes = stepGemmShapes(spec, c.batchSize);
  const repeats = c.batchSize >= 2048 && software ? 2 : 5;
  // One tuning per GEMM dispatch or the best single tuning, whichever ran the step's GEMMs faster together (what the CLI plans with).
  const tuned = await tuneGemmPerDispatch(ctx, shapes, { repeats });
  const perDispatch = [...new Set(tuned.tunings.values())].map(tuningKey);
  log(`${c.name}: GEMM tuning per dispatch (${perDispatch.join(', ')}) ${fmt(tuned.perDispatchGflops, 2)} GFLOP/s, best single ${tuningKey(tuned.single)} ${fmt(tuned.singleGflops, 2)} GFLOP/s over the step's GEMMs; the step runs ${tuned.winner === 'perDispatch' ? 'per dispatch' : 'with the single'}`);
  const { timing, trainer } = await timeRuntime(ctx, c, { warmup, steps: n, tuning: tuned.choose, window: 5, log });
  const profile = await profileStep(ctx, trainer, software && c.batchSize >= 2048 ? 1 : 3);
  if (c === small) smallProfile = profile;
  // Last: its GEMM-only passes leave the trainer's activations as no step would. bench-large's steps take seconds on a software adapter.
  const share = c === large && software ? null : await stepVsGemms(trainer, c, { rounds: c.batchSize > 1024 ? 7 : 15, roundMs: 300 });
  trainer.destroy();
  const flops = stepFlops(spec, c.batchSize);
  const stepGflops = flops.total / timing.msPerStep / 1e6;
  const best = Math.max(tuned.singleGflops, tuned.perDispatchGflops);
  steps.push({
    config: c, winner: tuned.winner, perDispatch, perDispatchGflops: tuned.perDispatchGflops, tuning: tuned.single, singleGflops: tuned.singleGflops, defaultTuning: gemmTuningFor(ctx.adapter),
    timing, flops, stepGflops, gpuTimeGflops: flops.total / profile.totalMs / 1e6, bestGemmGflops: best, rateVsBestGemm: stepGflops / best, profile, choose: tuned.choose, share,
  });
  log(`${c.name}: step ${fmt(timing.msPerStep)} ms = ${fmt(stepGflops, 2)} GFLOP/s, ${fmt((100 * stepGflops) / best)}% of the tuner's best GEMM rate${share ? `, ${fmt(100 * share.ratio)}% of its GEMMs alone` : ''}; outside GEMMs ${fmt(100 * profile.outsideGemmShare)}%`);
}

// bench-small with the per-dispatch tunings beside one tuning for every GEMM (the single best, the
// adapter's default, the 8x8/8x8 software default before per-dispatch tuning), interleaved.
const smallReport = steps[0];
const sideBySide: { label: string; tuning: GemmTuning | GemmTuningChooser | undefined; ms: number[] }[] = [
  { label: 'per dispatch', tuning: (await tuneGemmPerDispatch(ctx, stepGemmShapes(buildBenchSpec(small), small.batchSize))).perDispatch, ms: [] },
  { label: `single best ${tuningKey(smallReport.tuning)}`, tuning: smallReport.tuning, ms: [] },
  { label: `adapter default ${tuningKey(smallReport.defaultTuning)}`, tuning: undefined, ms: [] },
  { label: 'one 8x8/8x8 for all', tuning: { tileM: 8, tileN: 8, wgX: 8, wgY: 8 }, ms: [] },
];
for (let round = 0; round < 3; round++) {
  for (const r of sideBySide) {
    const { timing, trainer } = await timeRuntime(ctx, small, { warmup: 2, steps: 10, tuning: r.tuning });
    trainer.destroy();
    r.ms.push(timing.msPerStep);
  }
}

// ---- The CPU device beside WebGPU: the same configs, interleaved rounds (what --device auto weighs on a software adapter).

const cpuDevice = await CpuDevice.create();
const devices = steps.map((s) => ({ config: s.config, gpu: [] as number[], cpu: [] as number[], profile: null as StepProfile | null, share: null as GemmShare | null, lossGpu: NaN, lossCpu: NaN }));
for (let round = 0; round < 3; round++) {
  for (const [i, d] of devices.entries()) {
    const n = d.config.batchSize >= 2048 && software ? 5 : 10;
    const gpu = await timeRuntime(ctx, d.config, { warmup: 2, steps: n, tuning: steps[i].choose });
    gpu.trainer.destroy();
    const cpu = await timeRuntime(cpuDevice, d.config, { warmup: 2, steps: n });
    d.gpu.push(gpu.timing.msPerStep);
    d.cpu.push(cpu.timing.msPerStep);
    [d.lossGpu, d.lossCpu] = [gpu.timing.lossAt.loss, cpu.timing.lossAt.loss];
    if (round === 0) {
      d.profile = profileCpuStep(cpu.trainer);
      // Last: its GEMM-only passes leave the trainer's activations as no step would.
      d.share = await stepVsGemms(cpu.trainer, d.config);
    }
    cpu.trainer.destroy();
  }
}
log(`CPU device: ${devices.map((d) => `${d.config.name} ${fmt(median(d.cpu))} ms/step against WebGPU ${fmt(median(d.gpu))}`).join('; ')}`);

// ---- GPU memory over many steps.

const memSteps = value('--memory-steps', 1000);
const tiny = benchConfigs['bench-tiny'];
const memory: { step: number; liveBytes: number; planBytes: number }[] = [];
{
  const before = ctx.liveBytes;
  const { trainer } = await timeRuntime(ctx, tiny, { warmup: 1, steps: 0 });
  const batch = benchBatch(tiny);
  const planBytes = () => Object.values(trainer.plan.memory).reduce((a, b) => a + b, 0);
  memory.push({ step: trainer.steps, liveBytes: ctx.liveBytes - before, planBytes: planBytes() });
  const t0 = performance.now();
  for (let i = 1; i <= memSteps; i++) {
    await trainer.step(batch);
    if (i % 100 === 0) memory.push({ step: trainer.steps, liveBytes: ctx.liveBytes - before, planBytes: planBytes() });
  }
  log(`memory: ${memSteps} steps of ${tiny.name} in ${fmt((performance.now() - t0) / 1000)} s; live bytes ${memory.map((m) => m.liveBytes).join(', ')}`);
  trainer.destroy();
  memory.push({ step: -1, liveBytes: ctx.liveBytes - before, planBytes: 0 });
}
const memConstant = memory.slice(0, -1).every((m) => m.liveBytes === memory[0].liveBytes && m.planBytes === memory[0].planBytes);
const memFreed = memory[memory.length - 1].liveBytes === 0;

// ---- Report.

const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
const md: string[] = [];
md.push(`## Node (Dawn): GEMM, step profile, memory`);
md.push('');
md.push(`- Date: ${started.toISOString()}`);
md.push(`- Dawn's robustness transform ${robustness ? 'on (--robustness), as in a page' : 'off, as on the CLI\'s device (--robustness keeps it on, as in a page)'}; the binding checks for finished work every 1 ms (src/gpu/dawn-polling.ts)`);
md.push(`- Adapter: ${adapter}; timestamp-query ${ctx.device.features.has('timestamp-query') ? 'available (profile from GPU timestamps)' : 'not available (profile by submit-and-wait per op)'}`);
md.push(`- Command: \`${commandLine()}\` (commit ${commit()}, Node ${process.version})`);
if (!withLarge) md.push(`- bench-large shapes skipped on this software adapter (pass --large to include them).`);
md.push('');
md.push(`### Batched expert GEMM, GFLOP/s (best of 5 runs after one untimed; variant = tileM×tileN/wgX×wgY; naive = one output per invocation, bench/naive_gemm.wgsl)`);
md.push('');
md.push(`Shapes named after a config are that config's step GEMMs (entries × m×n×k; forward C = A B, dX C = A Bᵀ, dW C = Aᵀ B with the planner's strides).`);
md.push('');
md.push(
  mdTable(
    ['shape', 'kind', 'entries', 'naive', ...variants.map(tuningKey), 'best vs naive'],
    gemmRows.map((r) => [
      r.shape, r.kind, r.entries, fmt(r.naive, 2),
      ...variants.map((v) => {
        const g = r.variants[tuningKey(v)];
        return g === undefined ? '—' : tuningKey(v) === r.best ? `**${fmt(g, 2)}**` : fmt(g, 2);
      }),
      `${fmt(r.variants[r.best] / r.naive)}×`,
    ]),
  ),
);
md.push('');
md.push(`### bench-small's GEMMs one by one: one tuning for all vs the best per GEMM`);
md.push('');
md.push(`Each of the step's ${perShape.length} GEMM dispatches timed alone (wall, submit + wait, best of 5) under every variant. A plan takes one GemmTuning for all its GEMMs or, through tuneGemmPerShape's chooser, one per dispatch; the best single tuning sums to ${fmt(singleTotals[0].ms)} ms (${singleTotals[0].key}), the best variant per GEMM to ${fmt(perShapeTotal)} ms (${fmt((100 * (singleTotals[0].ms - perShapeTotal)) / singleTotals[0].ms)}% less).`);
md.push('');
md.push(mdTable(['GEMM', 'best variant', 'best ms', `${singleTotals[0].key} ms`, 'naive-like 1x1 ms'], perShape.map((r) => [r.label, r.best, fmt(r.bestMs, 2), fmt(r.ms[singleTotals[0].key], 2), fmt(r.ms['1x1/16x16'] ?? NaN, 2)])));
md.push('');
md.push(`### Training step (forward, loss, backward, Adam), tuned GEMM`);
md.push('');
md.push(`The step runs as the CLI plans (tuneGemmPerDispatch): with one tuning per GEMM dispatch (each GEMM's fastest timed alone) or with the best single variant, whichever ran exactly the step's GEMMs faster together (one command buffer, as in a step); "best GEMM" is the faster one's rate; "step rate" is the step's matrix FLOPs (GEMMs + gate logits) over its wall time. "outside GEMMs" is the share of the summed per-op GPU time (profile) spent in other kernels.`);
md.push('');
const dominant = gemmRows.find((r) => r.shape === 'bench-small level0.layer0');
md.push(
  mdTable(
    ['config', 'tuning', 'ms / step (all timed)', 'best 5-step window', 'steps/s', 'step MFLOP', 'step GFLOP/s (wall)', 'step GFLOP/s (GPU time)', 'best GEMM GFLOP/s', 'step / best GEMM (wall)', 'step / best GEMM (GPU time)', 'outside GEMMs'],
    steps.map((s) => [
      s.config.name, s.winner === 'perDispatch' ? `per dispatch: ${s.perDispatch.join(', ')}` : `single: ${tuningKey(s.tuning)}`, fmt(s.timing.msPerStep), fmt(s.timing.bestWindowMsPerStep ?? NaN), fmt(s.timing.stepsPerSec, 2),
      fmt(s.flops.total / 1e6, 0), fmt(s.stepGflops, 2), fmt(s.gpuTimeGflops, 2), fmt(s.bestGemmGflops, 2),
      `${fmt(100 * s.rateVsBestGemm)}%`, `${fmt((100 * s.gpuTimeGflops) / s.bestGemmGflops)}%`, `${fmt(100 * s.profile.outsideGemmShare)}%`,
    ]),
  ),
);
md.push('');
md.push(`Configs: ${steps.map((s) => `${s.config.name} = ${describeConfig(s.config)}`).join('; ')}.`);
md.push('');
{
  const s0 = steps[0];
  const wall = s0.timing.msPerStep;
  const p = s0.profile;
  const ideal = s0.flops.total / s0.bestGemmGflops / 1e6;
  const gemmIdeal = s0.flops.gemm / s0.bestGemmGflops / 1e6;
  const others = p.byKernel.filter((k) => k.kernel !== 'batched_gemm').slice(0, 3);
  for (const s of steps.filter((x) => x.share)) md.push(`- ${s.config.name}: ${gemmShareLine('ple-webgpu', s.share!)}`);
  md.push('');
  md.push(
    `bench-small against the tuner's best-of-runs GEMM rate: ${fmt(100 * s0.rateVsBestGemm)}% by wall time (the lines above, alternating rounds of the step and of its own GEMM dispatches, are the target's measure). ` +
      `At ${fmt(s0.bestGemmGflops, 2)} GFLOP/s the step's ${fmt(s0.flops.total / 1e6, 0)} MFLOP would take ${fmt(ideal)} ms; it takes ${fmt(wall)} ms. Where the rest goes (profile, GPU timestamps): ` +
      `GEMMs inside the step ${fmt(p.gemmMs)} ms against ${fmt(gemmIdeal)} ms at the tuner's rate; other kernels ${fmt(p.totalMs - p.gemmMs)} ms (${others.map((k) => `${k.kernel} ${fmt(k.ms)}`).join(', ')}); ` +
      `gaps between dispatches and host work ${fmt(Math.max(0, wall - p.totalMs))} ms (wall minus the summed op times).`,
  );
  md.push('');
}
if (dominant) {
  const s0 = steps[0];
  const top = dominant.variants[dominant.best];
  md.push(
    `Against the best variant at bench-small's largest GEMM alone (${dominant.entries}, ${dominant.best}: ${fmt(top, 2)} GFLOP/s) the step runs at ` +
      `${fmt((100 * s0.stepGflops) / top)}% (wall) / ${fmt((100 * s0.gpuTimeGflops) / top)}% (GPU time); the step's whole GEMM set only reaches ${fmt(s0.bestGemmGflops, 2)} GFLOP/s because many of its GEMMs are small (gate dW ${'`'}m = inputs, n = gate width${'`'}, towers) and fill few workgroups.`,
  );
  md.push('');
}
md.push(`Host load (1-min load average) at start ${loadStart.toFixed(2)}, at end ${loadavg()[0].toFixed(2)} on ${(await import('node:os')).cpus().length} CPUs: other processes sharing the CPUs inflate wall times on a software adapter.`);
md.push('');
md.push(`Steps timed: ${steps.map((s) => `${s.config.name} ${s.timing.steps} (after ${s.timing.warmupMs.length} warm-up steps: ${s.timing.warmupMs.map((m) => fmt(m, 0)).join(', ')} ms; plan + pipelines ${fmt(s.timing.createMs, 0)} ms)`).join('; ')}.`);
md.push(`bench-small by GEMM tuning, 3 interleaved rounds of 10 steps each (median ms/step): ${sideBySide.map((r) => `${r.label} ${fmt(median(r.ms))} (${r.ms.map((x) => fmt(x)).join(', ')})`).join('; ')}.`);
md.push('');
md.push(`Tuner (tuneGemmPerDispatch) over each step's GEMMs together: ${steps.map((s) => `${s.config.name} per dispatch (${s.perDispatch.join(', ')}) ${fmt(s.perDispatchGflops, 2)} GFLOP/s, best single ${tuningKey(s.tuning)} ${fmt(s.singleGflops, 2)} GFLOP/s, the step runs ${s.winner === 'perDispatch' ? 'per dispatch' : 'with the single'}`).join('; ')}.`);
md.push('');
for (const s of steps) {
  md.push(`#### Where ${s.config.name}'s step goes (${s.profile.method}; sum of ops ${fmt(s.profile.totalMs)} ms vs ${fmt(s.timing.msPerStep)} ms wall)`);
  md.push('');
  md.push(profileTable(s.profile));
  md.push('');
}
if (flag('--profile') && smallProfile) {
  md.push(`#### bench-small, per op`);
  md.push('');
  md.push(profileOpsTable(smallProfile));
  md.push('');
}
md.push(`### The CPU device beside WebGPU`);
md.push('');
md.push(`The same step on the CPU device (WebAssembly SIMD, src/cpu/; ${cpuDevice.describeThreads()}) and on WebGPU with the tuning above, alternating, 3 rounds; median ms/step (each round's figure in brackets). On a software adapter \`--device auto\` trains on the CPU device.`);
md.push('');
md.push(
  mdTable(
    ['config', 'WebGPU ms / step', 'CPU device ms / step', 'CPU device speed-up', 'CPU device GFLOP/s (step)', 'loss at the last step: WebGPU / CPU device'],
    devices.map((d) => [
      d.config.name, `${fmt(median(d.gpu))} (${d.gpu.map((x) => fmt(x)).join(', ')})`, `${fmt(median(d.cpu))} (${d.cpu.map((x) => fmt(x)).join(', ')})`, `${fmt(median(d.gpu) / median(d.cpu), 2)}×`,
      fmt(stepFlops(buildBenchSpec(d.config), d.config.batchSize).total / median(d.cpu) / 1e6, 2), `${d.lossGpu.toFixed(6)} / ${d.lossCpu.toFixed(6)}`,
    ]),
  ),
);
md.push('');
for (const d of devices.filter((x) => x.share)) md.push(`- ${d.config.name}: ${gemmShareLine(cpuSystem(cpuDevice.threads), d.share!)}`);
md.push('');
for (const d of devices.filter((x) => x.profile)) {
  const p = d.profile!;
  md.push(`#### ${d.config.name} on the CPU device by kernel (${p.method}, each op timed alone; sum ${fmt(p.totalMs)} ms; outside GEMMs ${fmt(100 * p.outsideGemmShare)}%)`);
  md.push('');
  md.push(profileTable(p));
  md.push('');
}
md.push(`### GPU memory`);
md.push('');
for (const s of steps) {
  const m = s.timing.memory!;
  md.push(`- ${s.config.name}: plan ${kib(m.planBytes)} (${Object.entries(m.plan).map(([k, v]) => `${k} ${kib(v)}`).join(', ')}); ctx.liveBytes with the trainer ${kib(m.liveBytes)}.`);
}
md.push(
  `- ${tiny.name} (${describeConfig(tiny)}), ${memSteps} steps: bytes held by the trainer (ctx.liveBytes less what was live before) at steps ${memory.slice(0, -1).map((m) => m.step).join(', ')}: ` +
    `${[...new Set(memory.slice(0, -1).map((m) => m.liveBytes))].map(kib).join(' / ')}; plan ${kib(memory[0].planBytes)} — ${memConstant ? '**constant**' : '**NOT constant**'}; ` +
    `after destroy: ${memory[memory.length - 1].liveBytes} bytes ${memFreed ? '(all freed)' : '(LEAK)'}.`,
);
md.push('');

const json = { date: started.toISOString(), adapter: ctx.adapter, command: commandLine(), commit: commit(), loadavg: { start: loadStart, end: loadavg()[0] }, gemm: gemmRows, perShape, singleTotals, steps, sideBySide, devices, memory: { config: tiny, steps: memSteps, samples: memory, constant: memConstant, freed: memFreed } };
if (!flag('--no-write')) log(`wrote ${writeResults('node', md.join('\n'), 'bench-node.json', json)}`);
else console.log(md.join('\n'));
process.exit(0);
