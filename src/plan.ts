/**
 * The planner: compiles a model spec once into a plan — the parameter, input and
 * activation arenas, the GPU buffers, and the ordered dispatches of the forward pass,
 * the loss, the backward pass and the optimizer. The step itself is described by the
 * model's layers (src/layers/): each declares its activations and emits its forward
 * and backward ops; this file turns that description into buffers and dispatches and
 * gives the trainer typed setters for per-step state. A training step then only
 * encodes the op lists.
 */
import type { GpuContext } from './gpu/context.js';
import { names, type ModelSpec } from './spec.js';
import type { ResolvedOptimizer } from './config.js';
import type { ArenaLayout } from './arena.js';
import { LimitError } from './limits.js';
import type { Batch } from './data/batch.js';
import { stageBatch } from './input-stage.js';
import { gemmTuningFor, gemmDispatch, type GemmTuning, type GemmTuningChooser } from './kernels/batched_gemm.js';
import { biasActBackwardDispatch } from './kernels/bias_act_backward.js';
import { gateSoftmaxDispatch } from './kernels/gate_softmax.js';
import { expertGradDispatch, gateGradDispatch, mixtureDispatch } from './kernels/mixture.js';
import { gateMixtureDispatch } from './kernels/gate_mixture.js';
import { fuseGateMixtures } from './layers/gates.js';
import { taskLossDispatch } from './kernels/task_loss.js';
import { embeddingBackwardDispatch, embeddingGatherDispatch } from './kernels/embedding.js';
import { OPTIMIZER_UNIFORM, optimizerDispatch, optimizerUniform, weightDecayEnd } from './kernels/optimizer.js';
import { kernelShapesFor } from './kernels/shapes.js';
import { CLIP_UNIFORM, gradNormDispatches, gradNormOutBytes, gradNormUniform } from './kernels/grad_norm.js';
import { uncertaintyDispatch } from './kernels/uncertainty.js';
import type { Dispatch, Op } from './kernels/dispatch.js';
import { reductionPathsFor, type ReductionPaths } from './reductions.js';
import { activationLayout, describeStep, inputLayout, paramLayout, type StepDescription } from './layers/model.js';
import type { OpDesc, PlanBuffers, StepOps } from './layers/ops.js';

export { activationLayout, inputLayout, paramLayout, type PlanBuffers };

/** Options of {@link buildPlan}. */
export interface PlanOptions {
  /** Rows per step; smaller batches are padded and masked. */
  batchSize: number;
  /** One tuning for every GEMM dispatch, or a chooser called per dispatch (see src/tuning.ts). Default: by adapter. */
  gemmTuning?: GemmTuning | GemmTuningChooser;
  /** The path of each reduction kernel, plain or subgroup (src/reductions.ts). Default: reductionPathsFor(ctx). */
  reductions?: Partial<ReductionPaths>;
  /**
   * Each level's gate softmax and mixtures in one dispatch (gate_mixture) rather than two (default
   * false: on SwiftShader the fused kernel took 1.2-1.3x the CPU time of the two, measured side by
   * side with `npm run bench:variants -- --compare fusion`; its fewer, larger workgroups spread worse
   * over the cores).
   */
  fuseGateMixture?: boolean;
}

/** Elements every arena view is aligned to on this device. */
export function planAlignment(ctx: GpuContext): number {
  return Math.max(1, ctx.limits.minStorageBufferOffsetAlignment / 4);
}

/** The largest batch whose buffers fit `maxBytes` (0 when even one row does not). */
export function largestBatch(spec: ModelSpec, align: number, maxBytes: number): number {
  const fits = (B: number) => activationLayout(spec, B, align).bytes <= maxBytes && inputLayout(spec, B, align).bytes <= maxBytes;
  if (!fits(1)) return 0;
  let lo = 1;
  let hi = 2;
  while (fits(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > 1 << 30) return lo;
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * A model compiled for one device and batch size: where every tensor lives in the GPU arenas, and
 * the ordered dispatches of each phase. A {@link Trainer} owns one; build one directly only to
 * drive the kernels yourself.
 */
export class Plan {
  readonly batchSize: number;
  /** Arena layouts: where each named view lives in its buffer (in elements). */
  readonly params: ArenaLayout;
  readonly input: ArenaLayout;
  readonly activations: ArenaLayout;
  readonly forward: Op[];
  readonly loss: Op[];
  readonly backward: Op[];
  readonly optimizer: Op[];
  /** Bytes of GPU memory the plan holds, by buffer. */
  readonly memory: Record<keyof PlanBuffers, number>;
  /** Batch staging, also seen as u32 for embedding indices and their CSR. */
  private readonly inputStage: Float32Array<ArrayBuffer>;
  private readonly inputWords: Uint32Array;

  constructor(
    private readonly device: GPUDevice,
    readonly spec: ModelSpec,
    /** What the plan was built from: its layouts and op descriptions, one per op of the lists below. */
    readonly step: StepDescription,
    readonly buffers: PlanBuffers,
    ops: Record<keyof StepOps, Op[]>,
  ) {
    this.batchSize = step.B;
    this.params = step.params;
    this.input = step.input;
    this.activations = step.activations;
    ({ forward: this.forward, loss: this.loss, backward: this.backward, optimizer: this.optimizer } = ops);
    this.memory = Object.fromEntries(Object.entries(buffers).map(([k, b]) => [k, b.size])) as Record<keyof PlanBuffers, number>;
    this.inputStage = new Float32Array(this.input.size);
    this.inputWords = new Uint32Array(this.inputStage.buffer);
  }

  /** The optimizer's state for step `step` (1-based): hyperparameters, learning rate and gradient scale. */
  setOptimizerStep(optimizer: ResolvedOptimizer, step: number, lr: number, gradScale: number): void {
    this.device.queue.writeBuffer(this.buffers.optimizerUniform, 0, optimizerUniform(optimizer, step, lr, gradScale, this.params.size, weightDecayEnd(this.params, names.logVariance)));
  }

  /** The loss weights w_k (under uncertainty weighting, the GPU derives the effective ones from them). */
  setTaskWeights(weights: readonly number[]): void {
    const w = Float32Array.from(weights);
    this.device.queue.writeBuffer(this.buffers.taskWeights, 0, w);
    this.device.queue.writeBuffer(this.buffers.baseWeights, 0, w);
  }

  /** Clips the global gradient norm to `maxNorm` before each update (0: off). */
  setGradientClip(maxNorm: number): void {
    this.device.queue.writeBuffer(this.buffers.clipUniform, 0, gradNormUniform(this.params.size, maxNorm));
  }

  /** Validates a batch and writes it, padded to the batch size with masked rows. */
  writeBatch(batch: Batch): void {
    stageBatch(this.spec, this.input, this.batchSize, batch, this.inputStage, this.inputWords);
    this.device.queue.writeBuffer(this.buffers.input, 0, this.inputStage);
  }
}

/**
 * Everything a plan allocates while it is built: its buffers and its dispatches (each owning
 * its descriptor tables). Should building fail, exactly these are freed.
 */
class PlanAllocations {
  private readonly buffers: GPUBuffer[] = [];
  private readonly dispatches: Promise<Dispatch>[] = [];

  constructor(private readonly ctx: GpuContext) {}

  buffer(label: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const b = this.ctx.createBuffer(label, bytes, usage);
    this.buffers.push(b);
    return b;
  }

  dispatch(d: Promise<Dispatch>): Promise<Dispatch> {
    this.dispatches.push(d);
    return d;
  }

  async release(): Promise<void> {
    for (const s of await Promise.allSettled(this.dispatches)) if (s.status === 'fulfilled') for (const b of s.value.owned) this.ctx.destroyBuffer(b);
    for (const b of this.buffers) this.ctx.destroyBuffer(b);
  }
}

/**
 * The step's description at batch size B; refuses a plan the device cannot hold, naming the limit
 * and the largest batch that fits. Runs before anything is allocated or timed (buildPlan, tuning).
 */
export function checkPlanLimits(ctx: GpuContext, spec: ModelSpec, B: number): ReturnType<typeof describeStep> {
  if (!Number.isInteger(B) || B < 1) throw new LimitError('batchSize', `batchSize must be a positive integer, got ${B}`);
  const align = planAlignment(ctx);
  const step = describeStep(spec, B, align);
  const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  for (const layout of [step.params, step.input, step.activations]) {
    if (layout.bytes > maxBinding) {
      const isParams = layout === step.params;
      const limit = ctx.limits.maxStorageBufferBindingSize <= ctx.limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
      const maxBatch = isParams ? undefined : largestBatch(spec, align, maxBinding);
      throw new LimitError(
        limit,
        `the ${layout.label} buffer needs ${layout.bytes} bytes at batch size ${B}, over the device's ${limit} of ${maxBinding} bytes` +
          (isParams ? ' (the model itself is too large for this device)' : `; the largest batch size that fits is ${maxBatch}`),
        maxBatch,
      );
    }
  }
  return step;
}

/**
 * Compiles a model spec into GPU buffers and dispatch lists for `options.batchSize` rows.
 * @throws LimitError when the batch size is not a positive integer or a buffer would exceed the
 *   device's limits (the error names the limit and the largest batch size that fits);
 *   ShaderCompileError when a kernel fails to compile.
 */
export async function buildPlan(ctx: GpuContext, spec: ModelSpec, options: PlanOptions): Promise<Plan> {
  const B = options.batchSize;
  const described = checkPlanLimits(ctx, spec, B);
  const step = !options.fuseGateMixture ? described : { ...described, ops: { ...described.ops, forward: fuseGateMixtures(described.ops.forward) } };
  const given = options.gemmTuning ?? gemmTuningFor(ctx.adapter);
  const tuning: GemmTuningChooser = typeof given === 'function' ? given : () => given;
  const paths: ReductionPaths = { ...reductionPathsFor(ctx), ...options.reductions };

  const owned = new PlanAllocations(ctx);
  try {
    const paramBytes = step.params.bytes;
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const uniform = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    const K = spec.numTasks;
    const buffers: PlanBuffers = {
      params: owned.buffer('params', paramBytes, storage),
      grads: owned.buffer('grads', paramBytes, storage),
      m1: owned.buffer('moment1', paramBytes, storage),
      m2: owned.buffer('moment2', paramBytes, storage),
      input: owned.buffer('input', step.input.bytes, storage),
      act: owned.buffer('activations', step.activations.bytes, storage),
      taskWeights: owned.buffer('task weights', K * 4, storage),
      baseWeights: owned.buffer('base task weights', K * 4, storage),
      optimizerUniform: owned.buffer('optimizer uniform', OPTIMIZER_UNIFORM.stride * 4, uniform),
      clipUniform: owned.buffer('clip uniform', CLIP_UNIFORM.stride * 4, uniform),
      clip: owned.buffer('clip', gradNormOutBytes(kernelShapesFor(ctx.adapter).gradNorm.parts), storage),
    };
    // Dispatches are created concurrently (pipelines compile in parallel where the host allows).
    const create = async (list: OpDesc[]) => (await Promise.all(list.map((d) => createOps(ctx, d, buffers, tuning, paths, owned)))).flat();
    const [forward, loss, backward, optimizer] = await Promise.all([create(step.ops.forward), create(step.ops.loss), create(step.ops.backward), create(step.ops.optimizer)]);
    return new Plan(ctx.device, spec, step, buffers, { forward, loss, backward, optimizer });
  } catch (e) {
    await owned.release();
    throw e;
  }
}

/** Turns one op description into ops on the plan's buffers: a clear, or its kernel's dispatches (grad_norm takes two). */
async function createOps(ctx: GpuContext, d: OpDesc, b: PlanBuffers, tuning: GemmTuningChooser, paths: ReductionPaths, owned: PlanAllocations): Promise<Op[]> {
  if (d.kernel === 'clear') return [{ kind: 'clear', name: d.name, buffer: b[d.buffer], offset: d.offset * 4, size: d.size * 4 }];
  const made = createDispatchesOf(ctx, d, b, tuning, paths);
  const dispatches = await Promise.all((Array.isArray(made) ? made : [made]).map((p) => owned.dispatch(p)));
  return dispatches.map((dispatch) => ({ kind: 'dispatch', dispatch }));
}

function createDispatchesOf(ctx: GpuContext, d: Exclude<OpDesc, { kernel: 'clear' }>, b: PlanBuffers, tuning: GemmTuningChooser, paths: ReductionPaths): Promise<Dispatch> | Promise<Dispatch>[] {
  const bind = <T extends string>(roles: Partial<Record<T, keyof PlanBuffers>>) => Object.fromEntries(Object.entries(roles).map(([k, r]) => [k, b[r as keyof PlanBuffers]])) as Record<T, GPUBuffer>;
  switch (d.kernel) {
    case 'batched_gemm':
      return gemmDispatch(ctx, d.name, d.entries, bind(d.buffers), tuning(d));
    case 'bias_act_backward':
      return biasActBackwardDispatch(ctx, d.name, d.entries, bind(d.buffers));
    case 'gate_softmax':
      return gateSoftmaxDispatch(ctx, d.name, d.entries, bind(d.buffers), paths.gate_softmax);
    case 'mixture':
      return mixtureDispatch(ctx, d.name, d.entries, bind(d.buffers));
    case 'gate_mixture':
      return gateMixtureDispatch(ctx, d.name, d.entries, bind(d.buffers), paths.gate_softmax);
    case 'mixture_gate_grad':
      return gateGradDispatch(ctx, d.name, d.entries, bind(d.buffers), paths.mixture_gate_grad);
    case 'mixture_expert_grad':
      return expertGradDispatch(ctx, d.name, d.entries, bind(d.buffers));
    case 'task_loss':
      return taskLossDispatch(ctx, d.name, d.entries, bind(d.buffers), paths.task_loss);
    case 'uncertainty':
      return uncertaintyDispatch(ctx, d.entry, bind(d.buffers));
    case 'embedding_gather':
      return embeddingGatherDispatch(ctx, d.name, d.entries, bind(d.buffers));
    case 'embedding_backward':
      return embeddingBackwardDispatch(ctx, d.name, d.entries, d.vocabulary, bind(d.buffers));
    case 'grad_norm': {
      const both = gradNormDispatches(ctx, bind(d.buffers), paths.grad_norm);
      return [both.then(([partials]) => partials), both.then(([, total]) => total)];
    }
    case 'optimizer':
      return optimizerDispatch(ctx, d.count, bind(d.buffers));
  }
}

/** Frees every buffer of the plan. */
export function destroyPlan(ctx: GpuContext, plan: Plan): void {
  for (const op of [...plan.forward, ...plan.loss, ...plan.backward, ...plan.optimizer]) {
    if (op.kind === 'dispatch') for (const b of op.dispatch.owned) ctx.destroyBuffer(b);
  }
  for (const b of Object.values(plan.buffers)) ctx.destroyBuffer(b);
}
