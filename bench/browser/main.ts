/**
 * The benchmark page (served by bench/browser.ts through Vite, driven by Playwright):
 * times a training step of this runtime on WebGPU and on its CPU device, then of
 * TensorFlow.js on its `webgpu` and `cpu` backends, the same model and batch, in this
 * one page on this browser's adapter and CPU.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { acquireBrowserDevice, CpuDevice, formatAdapter } from '../../src/index.js';
import { defaultGemmCandidates, tuneGemmPerDispatchForModel, tuningKey } from '../../src/tuning.js';
import { benchConfigs, buildBenchSpec, CPU_SYSTEM, cpuProfileKey, stepVsGemms, modelConfig, profileCpuStep, profileStep, timeRuntime, type GemmShare, type StepProfile, type StepTiming } from '../common.js';
import { timeTfjs } from '../tfjs-ple.js';

export interface PageRun {
  config: string;
  system: 'ple-webgpu' | typeof CPU_SYSTEM | 'tfjs-webgpu' | 'tfjs-cpu';
  warmup: number;
  steps: number;
  /** Timed steps per synchronised window (default: all in one, synchronised once at the end). */
  window?: number;
  /** The step (1-based, warm-up included) whose loss the timing reports: the same for every system of a config. */
  lossStep?: number;
  /** The CPU device's threads for this run (default: the page's cpuThreads). */
  cpuThreads?: number;
}

export interface PageOptions {
  runs: PageRun[];
  profile: boolean;
  tune: boolean;
  /** The CPU device's threads (default: the device's, a thread per core). */
  cpuThreads?: number;
}

export interface PageResult {
  adapter: string;
  adapterInfo: Record<string, unknown>;
  tfjsAdapter: string;
  userAgent: string;
  timestampQuery: boolean;
  timings: StepTiming[];
  profiles: Record<string, StepProfile>;
  tuning: Record<string, string>;
  /** The tuner's best GFLOP/s over the step's GEMMs, by config. */
  tuningBestGflops: Record<string, number>;
  /** Each device's step rate against its GEMMs alone: WebGPU's by config, the CPU device's by cpuProfileKey. */
  gemmShare: Record<string, GemmShare>;
  errors: string[];
}

const logEl = document.getElementById('log')!;
const log = (s: string) => {
  console.log(s);
  logEl.textContent += `\n${s}`;
};

let device: ReturnType<typeof acquireBrowserDevice> | null = null;

/** Runs `options.runs` (the runner passes one at a time, so results survive a page crash). */
async function runBench(options: PageOptions): Promise<PageResult> {
  device ??= acquireBrowserDevice();
  const ctx = await device;
  const adapter = formatAdapter(ctx.adapter);
  log(`adapter: ${adapter}`);
  const result: PageResult = {
    adapter,
    adapterInfo: { ...ctx.adapter },
    tfjsAdapter: '',
    userAgent: navigator.userAgent,
    timestampQuery: ctx.device.features.has('timestamp-query'),
    timings: [],
    profiles: {},
    tuning: {},
    tuningBestGflops: {},
    gemmShare: {},
    errors: [],
  };
  for (const run of options.runs) {
    const c = benchConfigs[run.config];
    try {
      if (run.system === 'ple-webgpu') {
        let tuning;
        if (options.tune) {
          const t0 = performance.now();
          // Big shapes: only the register-heavy variants (the others are 2-10x slower on every adapter measured), timed once.
          const big = c.batchSize > 1024;
          const candidates = big ? defaultGemmCandidates.filter((t) => t.tileM * t.tileN >= 32) : undefined;
          const repeats = big ? 1 : 3;
          // Per GEMM dispatch, as the CLI plans, or the best single tuning: whichever ran the step's GEMMs faster together.
          const tuned = await tuneGemmPerDispatchForModel(ctx, modelConfig(c), c.batchSize, { repeats, candidates });
          tuning = tuned.choose;
          result.tuningBestGflops[c.name] = Math.max(tuned.perDispatchGflops, tuned.singleGflops);
          const chosen = [...new Set([...tuned.tunings.values()].map(tuningKey))].join(', ');
          const used = tuned.winner === 'perDispatch' ? 'the step runs per dispatch' : `the step runs with the best single tuning, ${tuningKey(tuned.single)}`;
          result.tuning[c.name] =
            `${used} (tuned in ${(performance.now() - t0).toFixed(0)} ms); per dispatch: ${chosen} (${tuned.perDispatchGflops.toFixed(2)} GFLOP/s over the step's GEMMs); ` +
            `best single ${tuningKey(tuned.single)} (${tuned.singleGflops.toFixed(2)} GFLOP/s over the step's GEMMs)`;
          log(`${c.name}: tuning ${result.tuning[c.name]}`);
        }
        const { timing, trainer } = await timeRuntime(ctx, c, { warmup: run.warmup, steps: run.steps, window: run.window, lossStep: run.lossStep, tuning, log });
        result.timings.push(timing);
        if (options.profile) {
          result.profiles[c.name] = await profileStep(ctx, trainer, c.batchSize > 1024 ? 1 : 3);
          log(`${c.name}: profiled (${result.profiles[c.name].method})`);
        }
        // Last, as on the CPU device; bench-large's steps take seconds on a software adapter, so it has none.
        if (c.name !== 'bench-large') {
          result.gemmShare[c.name] = await stepVsGemms(trainer, c, { rounds: c.batchSize > 1024 ? 7 : 15, roundMs: 300 });
          log(`${c.name}: step against its GEMMs alone ${(100 * result.gemmShare[c.name].ratio).toFixed(1)}%`);
        }
        trainer.destroy();
      } else if (run.system === CPU_SYSTEM) {
        const cpu = await CpuDevice.create({ threads: run.cpuThreads ?? options.cpuThreads });
        log(`${CPU_SYSTEM} ${c.name}: ${cpu.describeThreads()}`);
        const { timing, trainer } = await timeRuntime(cpu, c, { warmup: run.warmup, steps: run.steps, window: run.window, lossStep: run.lossStep, log });
        result.timings.push(timing);
        const key = cpuProfileKey(c.name, timing.system);
        if (options.profile) result.profiles[key] = profileCpuStep(trainer);
        // Last: its GEMM-only passes leave the trainer's activations as no step would.
        result.gemmShare[key] = await stepVsGemms(trainer, c);
        trainer.destroy();
      } else {
        const backend = run.system === 'tfjs-webgpu' ? 'webgpu' : 'cpu';
        if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} failed to initialise`);
        await tf.ready();
        if (backend === 'webgpu') {
          const info = (tf.backend() as unknown as { adapterInfo?: Record<string, unknown> }).adapterInfo;
          result.tfjsAdapter = info ? JSON.stringify(info) : 'unknown';
        }
        result.timings.push(await timeTfjs(tf, run.system, buildBenchSpec(c), c, { warmup: run.warmup, steps: run.steps, lossStep: run.lossStep, log }));
      }
    } catch (e) {
      const msg = `${run.system} ${run.config}: ${(e as Error).stack ?? e}`;
      log(`ERROR ${msg}`);
      result.errors.push(msg);
    }
  }
  return result;
}

(window as unknown as { runBench: typeof runBench }).runBench = runBench;
(window as unknown as { benchReady: boolean }).benchReady = true;
