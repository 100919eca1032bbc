/**
 * How the kernels outside the GEMM are shaped on an adapter, in one place (the GEMM's variants
 * are timed per adapter instead: src/tuning.ts). A software adapter (SwiftShader) runs a
 * workgroup on one CPU thread, four invocations at a time as the lanes of a SIMD register: a load
 * costs about what four FMAs do, every invocation has a fixed cost, and at a barrier it switches
 * between the invocations one by one. So there an invocation does more work, each value loaded
 * serves more outputs, and workgroups stay small. A GPU keeps more invocations busy with less work
 * each. The figures: each op of bench-small's step in Node against the shape before, alternating.
 */
import { isSoftwareAdapter } from '../gpu/context.js';

export interface KernelShapes {
  /**
   * Adjacent outputs per invocation of the forward mixture and the expert gradient (their
   * O_TILE): each trip of their loop over a gate's members loads one gate weight and that many
   * expert outputs (a software adapter pays for a trip about what 64 FMAs cost, `npm run
   * bench:ceiling`).
   */
  mixtureOutputs: number;
  /** Experts per expert-gradient descriptor at most (EXPERTS): the experts that the same gates mix share each dG value loaded (2: the op 0.69-0.76x). */
  expertsPerDescriptor: number;
  /** Samples per lane group of the gate softmax on its plain path (ROWS): each gate weight loaded serves that many (4: 0.64x). The subgroup path, whose lanes split a sample's inputs, takes one. */
  gateRows: number;
  /** Workgroup size of the gate softmax: at batch 128 it still gives every core a few workgroups (16: 0.57x there, even at 512). */
  gateWorkgroup: number;
  /** Workgroup size of task_loss, which sums over its workgroup (16: 0.86x). */
  taskLossWorkgroup: number;
  /** grad_norm's workgroup size and its workgroups of partial sums (16 and 4: 0.33x, from one workgroup of 256). */
  gradNorm: { wg: number; parts: number };
}

const software: KernelShapes = { mixtureOutputs: 16, expertsPerDescriptor: 2, gateRows: 4, gateWorkgroup: 16, taskLossWorkgroup: 16, gradNorm: { wg: 16, parts: 4 } };
const gpu: KernelShapes = { mixtureOutputs: 4, expertsPerDescriptor: 1, gateRows: 1, gateWorkgroup: 64, taskLossWorkgroup: 64, gradNorm: { wg: 256, parts: 64 } };

export function kernelShapesFor(adapter: { isFallback: boolean; architecture: string }): KernelShapes {
  return isSoftwareAdapter(adapter) ? software : gpu;
}
