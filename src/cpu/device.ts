/**
 * The CPU device: trains on the host's CPU without WebGPU, running the same op lists as a GPU plan
 * (src/cpu/engine.ts) with WebAssembly SIMD GEMMs (src/cpu/gemm.ts), split over worker threads
 * where the host can share memory with them (src/cpu/pool.ts). On a host whose only WebGPU adapter
 * is a software one (SwiftShader), this is the faster device: `npm run bench` compares the two in
 * one run. Pass it to Trainer.create in place of a GpuContext.
 */
import { CpuGemm, gemmModule } from './gemm.js';
import { CpuHeap } from './heap.js';
import { CpuThreadPool } from './pool.js';
import { hostCores, MAX_CPU_THREADS, whyNoSharedMemory } from './threads.js';
import type { Trainer } from '../trainer.js';

/** Options of {@link CpuDevice.create}: how many threads the CPU device runs its GEMMs and elementwise ops on. */
export interface CpuDeviceOptions {
  /**
   * Threads each GEMM and elementwise op splits over (this one and threads - 1 workers), a whole number from 1 to 16.
   * Default: the host's cores (`os.availableParallelism()` in Node, `navigator.hardwareConcurrency`
   * in a browser), at most 16. 1 runs everything on the calling thread. Where the host cannot share
   * memory with workers (a page that is not cross-origin isolated) the device runs 1 thread and
   * {@link CpuDevice.threadsNote} says why.
   */
  threads?: number;
  /**
   * A GEMM op runs on as many threads as give each at least this many FLOPs (default 2^17: below
   * that, starting the workers costs more than it saves); an elementwise op on as many as its floats
   * read and written, at 2 FLOPs each, give this many each. 0 splits every op over all
   * threads, as the tests do to check the split on small models.
   */
  minFlopsPerThread?: number;
}

/** The CPU device: pass it to {@link Trainer.create} (or trainerFromCheckpoint) in place of a GpuContext to train on the CPU. */
export class CpuDevice {
  readonly kind = 'cpu';

  private constructor(
    /** Threads each GEMM and element-wise op runs on (1: the calling thread only). */
    readonly threads: number,
    /** Why that many: `2 cores`, `as asked; 2 cores`, or why the host allows only 1. */
    readonly threadsNote: string,
    /** See {@link CpuDeviceOptions.minFlopsPerThread} (undefined: the default). */
    readonly minFlopsPerThread: number | undefined,
  ) {}

  /**
   * Compiles the WASM kernels (once per process) and, on more than one thread, starts a pool once
   * to check the host runs one; throws where WebAssembly SIMD is missing.
   * @throws RangeError when `threads` is not a whole number from 1 to 16, or `minFlopsPerThread` is not a number >= 0.
   */
  static async create(options: CpuDeviceOptions = {}): Promise<CpuDevice> {
    const asked = options.threads;
    const { minFlopsPerThread } = options;
    if (minFlopsPerThread !== undefined && !(minFlopsPerThread >= 0)) throw new RangeError(`minFlopsPerThread must be a number >= 0, got ${minFlopsPerThread}`);
    const device = (threads: number, note: string) => new CpuDevice(threads, note, minFlopsPerThread);
    if (asked !== undefined && !(Number.isInteger(asked) && asked >= 1 && asked <= MAX_CPU_THREADS)) {
      throw new RangeError(`threads must be a whole number from 1 to ${MAX_CPU_THREADS}, got ${asked}`);
    }
    // Compiles and instantiates the GEMM kernel on a small heap: a host without WebAssembly SIMD fails here.
    await CpuGemm.create(new CpuHeap(64), 0, 64);
    const cores = await hostCores();
    const wanted = asked ?? Math.min(cores, MAX_CPU_THREADS);
    const why = asked !== undefined ? `as asked; ${plural(cores, 'core')}` : cores > MAX_CPU_THREADS ? `${cores} cores, at most ${MAX_CPU_THREADS}` : plural(cores, 'core');
    if (wanted === 1) return device(1, why);
    const noShared = whyNoSharedMemory();
    if (noShared) return device(1, noShared);
    try {
      const heap = new CpuHeap(64, { shared: true });
      (await CpuThreadPool.create(heap.memory, [await gemmModule(true)], wanted)).destroy();
    } catch (e) {
      return device(1, `worker threads could not start: ${(e as Error).message}`);
    }
    return device(wanted, why);
  }

  /** `2 threads (2 cores)`, `1 thread (the page is not cross-origin isolated, ...)`: what the device runs on and why. */
  describeThreads(): string {
    return `${plural(this.threads, 'thread')} (${this.threadsNote})`;
  }
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** Whether a device argument is the CPU device. */
export function isCpuDevice(device: unknown): device is CpuDevice {
  return device instanceof CpuDevice;
}
