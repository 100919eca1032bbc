/**
 * The step as data: what each layer emits. An op description names its kernel, what it
 * computes (`name`, e.g. `level0.layer0.dW`), its entries and the plan buffers it binds
 * (by role), with no GPU object in it. The planner (src/plan.ts) turns descriptions into
 * dispatches; the tuner (src/tuning.ts) times the GEMM descriptions; profiles name ops by
 * the same kernel and name.
 */
import type { ArenaLayout } from '../arena.js';
import type { ModelSpec } from '../spec.js';
import type { GemmEntry, GemmLayout } from '../kernels/batched_gemm.js';
import type { BiasActEntry } from '../kernels/bias_act_backward.js';
import type { GateEntry } from '../kernels/gate_softmax.js';
import type { ExpertGradEntry, GateGradEntry, MixtureEntry } from '../kernels/mixture.js';
import type { GateMixtureEntry } from '../kernels/gate_mixture.js';
import type { TaskLossEntry } from '../kernels/task_loss.js';
import type { UncertaintyEntry } from '../kernels/uncertainty.js';
import type { GatherEntry, ScatterEntry } from '../kernels/embedding.js';

/** The GPU buffers of a plan. Offsets in op descriptions are f32 elements of these. */
export interface PlanBuffers {
  params: GPUBuffer;
  grads: GPUBuffer;
  /** Optimizer moments (Adam m and v; SGD momentum in m1). */
  m1: GPUBuffer;
  m2: GPUBuffer;
  /** x, labels and mask of the current batch (and embedding indices and their CSR). */
  input: GPUBuffer;
  /** The activation arena (Plan.activations says where each activation is). */
  act: GPUBuffer;
  /** One f32 loss weight per task: what the loss kernel applies. */
  taskWeights: GPUBuffer;
  /** The weights w_k the host sets; under uncertainty weighting taskWeights = w_k exp(-s_k) is derived on the GPU. */
  baseWeights: GPUBuffer;
  optimizerUniform: GPUBuffer;
  /** Gradient clipping: the uniform (count, maxNorm) and the GPU-computed [scale, norm]. */
  clipUniform: GPUBuffer;
  clip: GPUBuffer;
}

export type BufferRole = keyof PlanBuffers;

type Roles<T extends string> = Record<T, BufferRole>;

export type OpDesc =
  | { kernel: 'batched_gemm'; name: string; layout: GemmLayout; entries: GemmEntry[]; buffers: Roles<'a' | 'b' | 'c'> & { bias?: BufferRole } }
  | { kernel: 'bias_act_backward'; name: string; entries: BiasActEntry[]; buffers: Roles<'dY' | 'y' | 'db'> }
  | { kernel: 'gate_softmax'; name: string; entries: GateEntry[]; buffers: Roles<'x' | 'w' | 'out'> }
  | { kernel: 'mixture'; name: string; entries: MixtureEntry[]; buffers: Roles<'gateW' | 'z' | 'out'> }
  /** A gate_softmax op and the mixture op after it in one dispatch (fuseGateMixtures, src/layers/gates.ts). */
  | { kernel: 'gate_mixture'; name: string; entries: GateMixtureEntry[]; buffers: Roles<'x' | 'w' | 'gateW' | 'z' | 'out'> }
  | { kernel: 'mixture_gate_grad'; name: string; entries: GateGradEntry[]; buffers: Roles<'gateW' | 'z' | 'dG' | 'dLogit'> }
  | { kernel: 'mixture_expert_grad'; name: string; entries: ExpertGradEntry[]; buffers: Roles<'gateW' | 'dG' | 'dZ'> }
  | { kernel: 'task_loss'; name: string; entries: TaskLossEntry[]; buffers: Roles<'weights' | 'logits' | 'labels' | 'dLogits' | 'out'> }
  | { kernel: 'uncertainty'; name: string; entry: UncertaintyEntry; buffers: Roles<'base' | 'params' | 'effective' | 'act' | 'grads'> }
  | { kernel: 'embedding_gather'; name: string; entries: GatherEntry[]; buffers: Roles<'indices' | 'tables' | 'x'> }
  | { kernel: 'embedding_backward'; name: string; entries: ScatterEntry[]; vocabulary: number[]; buffers: Roles<'csr' | 'dx' | 'grad'> }
  | { kernel: 'grad_norm'; name: string; buffers: Roles<'uniform' | 'grads' | 'out'> }
  | { kernel: 'optimizer'; name: string; count: number; buffers: Roles<'uniform' | 'params' | 'grads' | 'm1' | 'm2' | 'clip'> }
  /** Zero-fills `size` elements from `offset` (outside a compute pass). */
  | { kernel: 'clear'; name: string; buffer: BufferRole; offset: number; size: number };

export type GemmOp = Extract<OpDesc, { kernel: 'batched_gemm' }>;

/** A step's ops, in encoding order. */
export interface StepOps {
  forward: OpDesc[];
  /** Task losses and their logit gradients (with uncertainty weighting, its two phases around them). */
  loss: OpDesc[];
  backward: OpDesc[];
  /** Gradient norm and the optimizer update. */
  optimizer: OpDesc[];
}

/** What a layer reads while emitting ops: the spec, the batch capacity and the three arena layouts. */
export interface StepContext {
  spec: ModelSpec;
  /** Batch capacity (rows per step). */
  B: number;
  params: ArenaLayout;
  input: ArenaLayout;
  activations: ArenaLayout;
}

/**
 * A layer of the step: it declares the activations it writes and emits its forward ops
 * and its backward ops side by side. The planner calls `declare` on every layer in
 * model order, then `forward` (and `loss`) in model order, `backward` in reverse order,
 * and `update` last.
 */
export interface Layer {
  /** Adds the activations this layer writes (and their gradients) to the arena. */
  declare?(activations: ArenaLayout): void;
  forward?(c: StepContext, ops: OpDesc[]): void;
  loss?(c: StepContext, ops: OpDesc[]): void;
  backward?(c: StepContext, ops: OpDesc[]): void;
  update?(c: StepContext, ops: OpDesc[]): void;
}
