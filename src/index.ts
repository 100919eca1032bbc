/** ple-webgpu: train PLE-family multi-task models on WebGPU. Browser and Node share this API. */
export * from './config.js';
export { buildSpec, parameterCount, names as paramNames, type ModelSpec, type LevelSpec, type GateSpec, type GroupSpec, type ParamSpec } from './spec.js';
export { initParams, type ParamTensors } from './init.js';
export { Rng } from './rng.js';
export { GpuContext, NoAdapterError, openDevice, describeAdapter, formatAdapter, type AdapterReport } from './gpu/context.js';
export { acquireBrowserDevice } from './gpu/browser.js';
export { ShaderCompileError } from './gpu/pipelines.js';
export { LimitError } from './limits.js';
export { resolveOptimizer, type OptimizerConfig, type ResolvedOptimizer } from './kernels/optimizer.js';
export { defaultGemmTuning, type GemmTuning } from './kernels/batched_gemm.js';
export { Trainer, BatchError, type TrainerOptions, type Batch, type StepResult } from './trainer.js';
export { buildPlan, destroyPlan, largestBatch, type Plan, type PlanOptions } from './plan.js';
export {
  referenceForward,
  referenceLoss,
  referenceBackward,
  referenceGradients,
  toFloat64,
  type Tensors64,
  type ReferenceBatch,
  type ForwardTrace,
} from './reference/model.js';
