/**
 * The GPU engine: a plan (src/plan.ts) on a WebGPU device. A run encodes its phases' ops and the
 * copies of what it reads into ONE command buffer and submits it; nothing waits on the CPU inside
 * a step, and the reads come back as a promise, so a caller can keep submitting steps and read
 * losses a few steps behind.
 */
import type { GpuContext } from './context.js';
import type { ResolvedOptimizer } from '../config.js';
import type { Batch } from '../data/batch.js';
import type { BufferRole } from '../layers/ops.js';
import { destroyPlan, type Plan } from '../plan.js';
import { encodeOps, opKernel, opName } from '../kernels/dispatch.js';
import type { Engine, Phase, Region } from '../engine.js';

export class GpuEngine implements Engine {
  readonly device = 'gpu';
  /** Mappable staging buffers of finished runs, by size in bytes, for the next run that reads as much. */
  private readonly stagingPool = new Map<number, GPUBuffer[]>();
  private destroyed = false;

  constructor(
    readonly ctx: GpuContext,
    readonly plan: Plan,
  ) {}

  get batchSize() {
    return this.plan.batchSize;
  }
  get params() {
    return this.plan.params;
  }
  get activations() {
    return this.plan.activations;
  }

  setOptimizerStep(optimizer: ResolvedOptimizer, step: number, lr: number, gradScale: number): void {
    this.plan.setOptimizerStep(optimizer, step, lr, gradScale);
  }
  setTaskWeights(weights: readonly number[]): void {
    this.plan.setTaskWeights(weights);
  }
  setGradientClip(maxNorm: number): void {
    this.plan.setGradientClip(maxNorm);
  }
  writeBatch(batch: Batch): void {
    this.ctx.assertAlive();
    this.plan.writeBatch(batch);
  }
  assertAlive(): void {
    this.ctx.assertAlive();
  }

  run(phases: readonly Phase[], reads: readonly Region[]): Promise<Float32Array> {
    this.ctx.assertAlive();
    const bytes = reads.reduce((a, r) => a + r.size * 4, 0);
    const encoder = this.ctx.device.createCommandEncoder({ label: phases.join('+') });
    encodeOps(encoder, phases.flatMap((p) => this.plan[p]), phases.length === 1 ? phases[0] : 'step');
    const staging = this.stagingPool.get(bytes)?.pop() ?? this.ctx.createBuffer('readback staging', bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    let at = 0;
    for (const r of reads) {
      encoder.copyBufferToBuffer(this.plan.buffers[r.role], r.offset * 4, staging, at, r.size * 4);
      at += r.size * 4;
    }
    this.ctx.device.queue.submit([encoder.finish()]);
    return this.ctx.guard(staging.mapAsync(GPUMapMode.READ)).then(
      () => {
        const data = new Float32Array(staging.getMappedRange()).slice();
        staging.unmap();
        if (this.destroyed) this.ctx.destroyBuffer(staging);
        else this.stagingPool.set(bytes, [...(this.stagingPool.get(bytes) ?? []), staging]);
        return data;
      },
      (e: unknown) => {
        this.ctx.destroyBuffer(staging);
        throw e;
      },
    );
  }

  /**
   * Runs only the ops of these phases that `keep` accepts, in order, in one command buffer, and
   * resolves when the queue has finished it (the benches time the step's GEMMs alone this way).
   * What the skipped ops would have written is left as it was, so the outputs are not a step's.
   */
  async runOnly(phases: readonly Phase[], keep: (op: { kernel: string; name: string }) => boolean): Promise<void> {
    this.ctx.assertAlive();
    const encoder = this.ctx.device.createCommandEncoder({ label: `${phases.join('+')} (some ops)` });
    encodeOps(encoder, phases.flatMap((p) => this.plan[p]).filter((op) => keep({ kernel: opKernel(op), name: opName(op) })), 'some ops');
    this.ctx.device.queue.submit([encoder.finish()]);
    await this.ctx.guard(this.ctx.device.queue.onSubmittedWorkDone());
  }

  async read(r: Region): Promise<Float32Array> {
    return new Float32Array(await this.ctx.readBuffer(this.plan.buffers[r.role], r.offset * 4, r.size * 4));
  }

  write(role: BufferRole, offset: number, data: Float32Array<ArrayBuffer>): void {
    this.ctx.device.queue.writeBuffer(this.plan.buffers[role], offset * 4, data);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    destroyPlan(this.ctx, this.plan);
    for (const list of this.stagingPool.values()) for (const b of list) this.ctx.destroyBuffer(b);
    this.stagingPool.clear();
  }
}
