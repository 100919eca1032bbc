/**
 * What the benchmarks share, in the browser page and in Node: the benchmark
 * configs, a deterministic batch, FLOP counts of a step, timing this runtime's
 * training step, and a per-kernel profile of a step through timestamp queries.
 * No Node or DOM imports here.
 */
import { ple, type ModelConfig } from '../src/config.js';
import { buildSpec, type ModelSpec } from '../src/spec.js';
import { Trainer, type Batch } from '../src/trainer.js';
import { isCpuDevice, type CpuDevice } from '../src/cpu/device.js';
import { CpuEngine } from '../src/cpu/engine.js';
import { GpuEngine } from '../src/gpu/engine.js';
import type { GpuContext } from '../src/gpu/context.js';
import type { GemmTuning, GemmTuningChooser } from '../src/kernels/batched_gemm.js';
import { encodeDispatch, encodeOps, opKernel, opName, type Op } from '../src/kernels/dispatch.js';
import { gemmFlops, stepGemmShapes } from '../src/tuning.js';
import { Rng } from '../src/rng.js';

export interface BenchConfig {
  name: string;
  batchSize: number;
  inputDim: number;
  levels: number;
  taskExperts: number;
  sharedExperts: number;
  expertWidth: number;
  towerWidth: number;
  tasks: number;
}

export const benchConfigs: Record<string, BenchConfig> = {
  'bench-small': { name: 'bench-small', batchSize: 512, inputDim: 128, levels: 2, taskExperts: 2, sharedExperts: 2, expertWidth: 64, towerWidth: 32, tasks: 2 },
  /** bench-small at a larger batch: the same model, 4x the rows per step. */
  'bench-small@2048': { name: 'bench-small@2048', batchSize: 2048, inputDim: 128, levels: 2, taskExperts: 2, sharedExperts: 2, expertWidth: 64, towerWidth: 32, tasks: 2 },
  'bench-large': { name: 'bench-large', batchSize: 2048, inputDim: 512, levels: 2, taskExperts: 2, sharedExperts: 2, expertWidth: 256, towerWidth: 128, tasks: 2 },
  /** For the 1,000-step memory check. */
  'bench-tiny': { name: 'bench-tiny', batchSize: 64, inputDim: 16, levels: 2, taskExperts: 1, sharedExperts: 1, expertWidth: 16, towerWidth: 8, tasks: 2 },
};

export function modelConfig(c: BenchConfig): ModelConfig {
  return ple({
    inputDim: c.inputDim,
    tasks: Array.from({ length: c.tasks }, (_, k) => ({ name: `task${k}`, type: 'binary' as const })),
    levels: c.levels,
    taskExperts: c.taskExperts,
    sharedExperts: c.sharedExperts,
    expertWidths: [c.expertWidth],
    towerWidths: [c.towerWidth],
  });
}

export function describeConfig(c: BenchConfig): string {
  return `batch ${c.batchSize}, ${c.inputDim} inputs, ${c.levels} levels of ${c.taskExperts} task + ${c.sharedExperts} shared experts [${c.expertWidth}], towers [${c.towerWidth}], ${c.tasks} binary tasks`;
}

/** A fixed batch: x uniform in [-1, 1), labels a noisy function of x. */
export function benchBatch(c: BenchConfig, seed = 7): Batch & { x: Float32Array; labels: Float32Array } {
  const rng = new Rng(seed);
  const B = c.batchSize;
  const x = new Float32Array(B * c.inputDim);
  for (let i = 0; i < x.length; i++) x[i] = rng.range(-1, 1);
  const labels = new Float32Array(B * c.tasks);
  for (let r = 0; r < B; r++) {
    for (let k = 0; k < c.tasks; k++) labels[r * c.tasks + k] = x[r * c.inputDim + k] + 0.3 * rng.normal() > 0 ? 1 : 0;
  }
  return { rows: B, x, labels };
}

/**
 * Matrix-product FLOPs of one training step (2 m n k per product): every GEMM the
 * batched_gemm kernel runs, plus the gate logits computed inside gate_softmax.
 */
export function stepFlops(spec: ModelSpec, B: number): { gemm: number; gateLogits: number; total: number } {
  const gemm = gemmFlops(stepGemmShapes(spec, B));
  let gateLogits = 0;
  for (const level of spec.levels) for (const g of level.gates) if (g.hasParams) gateLogits += 2 * B * level.inDim * g.members.length;
  return { gemm, gateLogits, total: gemm + gateLogits };
}

/** The runtime on its CPU device (src/cpu/), as the benches' tables name it. */
export const CPU_SYSTEM = 'ple-webgpu (CPU device)';
/** The CPU device on this many threads, as the timings name it (CPU_SYSTEM's timings all start with it). */
export const cpuSystem = (threads: number) => `${CPU_SYSTEM} on ${threads} thread${threads === 1 ? '' : 's'}`;
export const isCpuSystem = (system: string) => system.startsWith(CPU_SYSTEM);
/** Where a page run keeps a CPU device's profile and step-vs-GEMM share of a config, beside the WebGPU one (keyed by the config's name). */
export const cpuProfileKey = (config: string, system: string) => `${config} ${system}`;

export interface StepTiming {
  system: string;
  config: string;
  /** Trainer.create: planning and pipeline creation. */
  createMs: number;
  warmupMs: number[];
  steps: number;
  totalMs: number;
  msPerStep: number;
  stepsPerSec: number;
  /** Total loss of the first step (before any update). */
  firstLoss: number;
  /** Total loss of step `step` (1-based, warm-up steps included): the same step for every system of a config, so the losses compare. */
  lossAt: { step: number; loss: number };
  /** ms/step of the fastest window of timed steps (less exposed to other load on the host). */
  bestWindowMsPerStep?: number;
  memory?: { plan: Record<string, number>; planBytes: number; liveBytes: number };
  note?: string;
}

export interface RuntimeBenchOptions {
  warmup: number;
  steps: number;
  tuning?: GemmTuning | GemmTuningChooser;
  /** Timed steps per synchronised window (default: all in one). */
  window?: number;
  /** The step (1-based, warm-up included) whose loss `lossAt` reports (default: the last). */
  lossStep?: number;
  seed?: number;
  log?: (s: string) => void;
}

/**
 * Times this runtime's training step: `warmup` steps awaited one by one (the
 * first includes lazy work), then `steps` steps submitted back to back and
 * synchronised by reading back the last step's loss.
 */
export async function timeRuntime(ctx: GpuContext | CpuDevice, c: BenchConfig, o: RuntimeBenchOptions): Promise<{ timing: StepTiming; trainer: Trainer }> {
  const system = isCpuDevice(ctx) ? cpuSystem(ctx.threads) : 'ple-webgpu';
  const batch = benchBatch(c);
  const t0 = performance.now();
  const trainer = await Trainer.create(ctx, modelConfig(c), { batchSize: c.batchSize, seed: o.seed ?? 1, optimizer: { kind: 'adam', lr: 1e-3 }, gemmTuning: o.tuning });
  const createMs = performance.now() - t0;
  o.log?.(`${system} ${c.name}: plan + pipelines ${createMs.toFixed(0)} ms`);
  const warmupMs: number[] = [];
  const lossStep = o.lossStep ?? o.warmup + o.steps;
  let firstLoss = NaN;
  // The loss of step lossStep: its result is kept and read after the timing, adding no synchronisation.
  let lossOfStep = null as Promise<{ total: number }> | null;
  let stepNo = 0;
  const step = () => {
    const r = trainer.step(batch);
    if (++stepNo === lossStep) lossOfStep = r;
    return r;
  };
  for (let i = 0; i < o.warmup; i++) {
    const s = performance.now();
    const r = await step();
    if (i === 0) firstLoss = r.total;
    warmupMs.push(performance.now() - s);
  }
  // Timed steps in windows, each synchronised by reading back its last loss; ms/step is over all of them.
  const window = Math.max(1, Math.min(o.window ?? o.steps, o.steps));
  const windowsMs: number[] = [];
  const s = performance.now();
  for (let done = 0; done < o.steps; ) {
    const n = Math.min(window, o.steps - done);
    const w = performance.now();
    let last: Promise<{ total: number }> | null = null;
    for (let i = 0; i < n; i++) last = step();
    await last!;
    windowsMs.push((performance.now() - w) / n);
    done += n;
  }
  const totalMs = performance.now() - s;
  const lossAt = { step: lossStep, loss: lossOfStep ? (await lossOfStep).total : NaN };
  const gpu = !isCpuDevice(ctx) && { plan: trainer.plan, liveBytes: ctx.liveBytes };
  const timing: StepTiming = {
    system,
    config: c.name,
    createMs,
    warmupMs,
    steps: o.steps,
    totalMs,
    msPerStep: totalMs / o.steps,
    stepsPerSec: (1000 * o.steps) / totalMs,
    firstLoss,
    lossAt,
    bestWindowMsPerStep: Math.min(...windowsMs),
    memory: gpu ? { plan: { ...gpu.plan.memory }, planBytes: Object.values(gpu.plan.memory).reduce((a, b) => a + b, 0), liveBytes: gpu.liveBytes } : undefined,
  };
  o.log?.(`${system} ${c.name}: ${timing.msPerStep.toFixed(1)} ms/step over ${o.steps} steps`);
  return { timing, trainer };
}

export interface OpProfile {
  phase: string;
  label: string;
  kernel: string;
  ms: number;
}

export interface StepProfile {
  /** GPU timestamps, each op submitted and awaited alone, or (the CPU device) each op timed on the host. */
  method: 'timestamp-query' | 'submit-and-wait' | 'performance.now';
  ops: OpProfile[];
  byKernel: { kernel: string; ms: number; share: number }[];
  /** Sum over ops. */
  totalMs: number;
  gemmMs: number;
  /** Share of the summed op time outside batched_gemm. */
  outsideGemmShare: number;
}


/**
 * Per-kernel time of one training step. With `timestamp-query` every dispatch
 * of plan.forward/loss/backward/optimizer is encoded in its own compute pass
 * with timestampWrites, the query set resolved and read back; otherwise each op
 * is submitted and awaited on its own. Runs one extra step's worth of work (the
 * batch and optimizer uniform of the trainer's last step are reused).
 */
export async function profileStep(ctx: GpuContext, trainer: Trainer, repeats = 3): Promise<StepProfile> {
  const plan = trainer.plan;
  const phases: [string, Op[]][] = [
    ['forward', plan.forward],
    ['loss', plan.loss],
    ['backward', plan.backward],
    ['optimizer', plan.optimizer],
  ];
  const all = phases.flatMap(([phase, ops]) => ops.map((op) => ({ phase, op })));
  const ms = new Array<number>(all.length).fill(Infinity);
  const device = ctx.device;
  const timestamps = device.features.has('timestamp-query');
  if (timestamps) {
    const count = 2 * all.length;
    const querySet = device.createQuerySet({ type: 'timestamp', count });
    const resolve = ctx.createBuffer('profile resolve', count * 8, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC);
    const read = ctx.createBuffer('profile read', count * 8, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ);
    try {
      for (let r = 0; r < repeats; r++) {
        const encoder = device.createCommandEncoder({ label: 'profile' });
        all.forEach(({ op }, i) => {
          if (op.kind === 'dispatch') {
            const pass = encoder.beginComputePass({
              label: op.dispatch.label,
              timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
            });
            encodeDispatch(pass, op.dispatch);
            pass.end();
          } else {
            // Clears are copy commands (no timestamps there); an empty pass stamps around nothing.
            encoder.clearBuffer(op.buffer, op.offset, op.size);
            const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
            pass.end();
          }
        });
        encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, read, 0, count * 8);
        device.queue.submit([encoder.finish()]);
        await read.mapAsync(GPUMapMode.READ);
        const t = new BigInt64Array(read.getMappedRange().slice(0));
        read.unmap();
        all.forEach((_, i) => {
          const d = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
          ms[i] = Math.min(ms[i], Math.max(0, d));
        });
      }
    } finally {
      querySet.destroy();
      ctx.destroyBuffer(resolve);
      ctx.destroyBuffer(read);
    }
  } else {
    for (let r = 0; r < repeats; r++) {
      for (let i = 0; i < all.length; i++) {
        const t0 = performance.now();
        const encoder = device.createCommandEncoder({ label: 'profile' });
        encodeOps(encoder, [all[i].op], 'profile');
        device.queue.submit([encoder.finish()]);
        await device.queue.onSubmittedWorkDone();
        ms[i] = Math.min(ms[i], performance.now() - t0);
      }
    }
  }
  return summarizeProfile(timestamps ? 'timestamp-query' : 'submit-and-wait', all.map(({ phase, op }, i) => ({ phase, label: `${opKernel(op)} ${opName(op)}`, kernel: opKernel(op), ms: ms[i] })));
}

/** A step's rate against its GEMMs' rate over the step's own GEMM ops run alone (the step's ≥ 80% target), from alternating rounds; on either device. */
export interface GemmShare {
  /** Per round: ms per step, ms per pass of the step's batched_gemm ops alone, and step rate / GEMM rate. */
  rounds: { stepMs: number; gemmMs: number; ratio: number }[];
  /** Medians over the rounds. */
  stepMs: number;
  gemmMs: number;
  /** Step FLOPs (GEMMs + gate logits, stepFlops) per step time; the GEMM ops' FLOPs per their time alone. */
  stepGflops: number;
  gemmGflops: number;
  /** Median over the rounds of step rate / GEMM rate. */
  ratio: number;
}

/**
 * Times `rounds` rounds of n training steps (about `roundMs` of them, default 100, at least one), each followed by
 * n passes of the step's GEMM ops alone on the same operands (runOnly: on the CPU device, op by op; on
 * WebGPU, one command buffer of the plan's GEMM dispatches with their own tunings, waited for like a
 * step), and compares the step's rate with the GEMMs'. Alternating keeps a noisy host's drift out of
 * the ratio; the default 15 rounds keep one unlucky round from moving the median much. The GEMM-only
 * passes leave the activations and gradients as no step would, so run this after any loss checks.
 */
export async function stepVsGemms(trainer: Trainer, c: BenchConfig, o: { rounds?: number; roundMs?: number } = {}): Promise<GemmShare> {
  const engine = trainer.engine;
  const batch = benchBatch(c);
  const phases = ['forward', 'loss', 'backward', 'optimizer'] as const;
  const isGemm = (op: { kernel: string }) => op.kernel === 'batched_gemm';
  const { total, gemm } = stepFlops(trainer.spec, c.batchSize);
  // The GEMM ops' FLOPs as the engine runs them: the CPU device fuses the gate logits into them.
  const gemmFlops = engine instanceof CpuEngine ? engine.gemmOpFlops() : gemm;
  const gemmsAlone = engine instanceof CpuEngine ? async () => engine.runOnly(phases, isGemm) : engine instanceof GpuEngine ? () => engine.runOnly(phases, isGemm) : null;
  if (!gemmsAlone) throw new Error('stepVsGemms: the trainer runs on neither the CPU device nor WebGPU');
  // Steps (and GEMM-only passes) per round: about roundMs of steps, from one step timed first.
  const t = performance.now();
  await trainer.step(batch);
  const n = Math.max(1, Math.min(10, Math.round((o.roundMs ?? 100) / (performance.now() - t))));
  const rounds: GemmShare['rounds'] = [];
  for (let r = 0; r < (o.rounds ?? 15); r++) {
    let t0 = performance.now();
    for (let i = 0; i < n; i++) await trainer.step(batch);
    const stepMs = (performance.now() - t0) / n;
    t0 = performance.now();
    for (let i = 0; i < n; i++) await gemmsAlone();
    const gemmMs = (performance.now() - t0) / n;
    rounds.push({ stepMs, gemmMs, ratio: total / stepMs / (gemmFlops / gemmMs) });
  }
  const stepMs = median(rounds.map((x) => x.stepMs));
  const gemmMs = median(rounds.map((x) => x.gemmMs));
  return { rounds, stepMs, gemmMs, stepGflops: total / stepMs / 1e6, gemmGflops: gemmFlops / gemmMs / 1e6, ratio: median(rounds.map((x) => x.ratio)) };
}

/** One sentence on a GemmShare for the reports, with the 80% target. */
export function gemmShareLine(system: string, s: GemmShare): string {
  const ratios = s.rounds.map((r) => r.ratio).sort((a, b) => a - b);
  const at = (q: number) => ratios[Math.round(q * (ratios.length - 1))];
  const spread = (from: number, to: number) => `${fmt(100 * at(from))}–${fmt(100 * at(to))}%`;
  return (
    `${system} step rate: ${fmt(s.stepGflops, 2)} GFLOP/s (${fmt(s.stepMs)} ms/step), **${fmt(100 * s.ratio)}%** of its GEMM's rate over the step's own GEMM ops run alone on the same operands ` +
    `(${fmt(s.gemmGflops, 2)} GFLOP/s, ${fmt(s.gemmMs)} ms; median of ${s.rounds.length} alternating rounds; the middle half of them ${spread(0.25, 0.75)}, all ${spread(0, 1)}) — target ≥ 80%: ${s.ratio >= 0.8 ? 'met' : 'NOT met'}.`
  );
}

/**
 * Per-op time of one training step on the CPU device, each op run alone (performance.now()),
 * fastest of `repeats`. Runs the step's work again with the trainer's last batch and optimizer state.
 */
export function profileCpuStep(trainer: Trainer, repeats = 3): StepProfile {
  if (!(trainer.engine instanceof CpuEngine)) throw new Error('profileCpuStep needs a trainer on the CPU device');
  let ops: OpProfile[] = [];
  for (let r = 0; r < repeats; r++) {
    const run = trainer.engine.profile(['forward', 'loss', 'backward', 'optimizer']).map((o) => ({ phase: o.phase, label: `${o.kernel} ${o.name}`, kernel: o.kernel, ms: o.ms }));
    ops = r === 0 ? run : ops.map((o, i) => ({ ...o, ms: Math.min(o.ms, run[i].ms) }));
  }
  return summarizeProfile('performance.now', ops);
}

function summarizeProfile(method: StepProfile['method'], ops: OpProfile[]): StepProfile {
  const totalMs = ops.reduce((a, o) => a + o.ms, 0);
  const kernels = new Map<string, number>();
  for (const o of ops) kernels.set(o.kernel, (kernels.get(o.kernel) ?? 0) + o.ms);
  const byKernel = [...kernels].map(([kernel, t]) => ({ kernel, ms: t, share: t / totalMs })).sort((a, b) => b.ms - a.ms);
  const gemmMs = kernels.get('batched_gemm') ?? 0;
  return { method, ops, byKernel, totalMs, gemmMs, outsideGemmShare: 1 - gemmMs / totalMs };
}

// ---- Formatting.

export function mdTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The middle value of `xs` (for an even count, the upper of the two middle ones). */
export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

export function profileTable(p: StepProfile): string {
  return mdTable(
    ['kernel', 'ms / step', 'share'],
    p.byKernel.map((k) => [k.kernel, fmt(k.ms, 2), `${(k.share * 100).toFixed(1)}%`]),
  );
}

export function profileOpsTable(p: StepProfile): string {
  return mdTable(['phase', 'op', 'ms'], p.ops.map((o) => [o.phase, o.label, fmt(o.ms, 2)]));
}

export function buildBenchSpec(c: BenchConfig): ModelSpec {
  return buildSpec(modelConfig(c));
}
