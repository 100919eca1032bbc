/**
 * The CPU device: trains on the host's CPU without WebGPU, running the same op lists as a GPU plan
 * (src/cpu/engine.ts) with WebAssembly SIMD GEMMs (src/cpu/gemm.ts). On a host whose only WebGPU
 * adapter is a software one (SwiftShader), this is the faster device: `npm run bench` compares the
 * two in one run. Pass it to Trainer.create in place of a GpuContext.
 */
import { CpuGemm } from './gemm.js';
import { CpuHeap } from './heap.js';
import type { Trainer } from '../trainer.js';

/** The CPU device: pass it to {@link Trainer.create} (or trainerFromCheckpoint) in place of a GpuContext to train on the CPU. */
export class CpuDevice {
  readonly kind = 'cpu';

  private constructor() {}

  /** Compiles the WASM kernels (once per process); throws where WebAssembly SIMD is missing. */
  static async create(): Promise<CpuDevice> {
    // Compiles and instantiates the GEMM kernel on a small heap: a host without WebAssembly SIMD fails here.
    await CpuGemm.create(new CpuHeap(64), 0, 64);
    return new CpuDevice();
  }
}

/** Whether a device argument is the CPU device. */
export function isCpuDevice(device: unknown): device is CpuDevice {
  return device instanceof CpuDevice;
}
