/**
 * ple-webgpu: train PLE-family multi-task models on WebGPU. Browser and Node share this API;
 * `ple-webgpu/node` adds device acquisition in Node.
 * @module ple-webgpu
 */
// The declarations use WebGPU's types (GPUDevice, GPUBuffer, ...): this directive, kept in the
// published index.d.ts, loads them from the @webgpu/types dependency so a consumer installs nothing.
/// <reference types="@webgpu/types" preserve="true" />
export * from './config.js';
export { familyConfig, familyOptionsOf, datasetForConfig, isModelFamily, MODEL_FAMILIES, FAMILY_NAMES, FAMILY_CHOICES, type ModelFamily, type FamilyOptions, type ModelInputs } from './family.js';
export { buildSpec, parameterCount, names as paramNames, type ModelSpec, type LevelSpec, type GateSpec, type GroupSpec, type ParamSpec, type EmbeddingSpec } from './spec.js';
export { initParams, type ParamTensors } from './init.js';
export { Rng } from './rng.js';
export { GpuContext, DeviceLostError, NoAdapterError, openDevice, describeAdapter, formatAdapter, type AdapterReport, type DeviceOptions } from './gpu/context.js';
export { acquireBrowserDevice, acquireBrowserTrainingDevice } from './gpu/browser.js';
export { chooseTrainingDevice, DEVICE_CHOICES, type DeviceChoice, type TrainingDevice } from './device-choice.js';
export { ShaderCompileError } from './gpu/pipelines.js';
export { LimitError } from './limits.js';
export { defaultGemmTuning, type GemmTuning, type GemmTuningChooser } from './kernels/batched_gemm.js';
export { reductionPathsFor, allOnPath, reductionKernels, type ReductionPath, type ReductionPaths, type ReductionKernel } from './reductions.js';
export { Trainer, type TrainerOptions, type StepResult } from './trainer.js';
export { CpuDevice, isCpuDevice, type CpuDeviceOptions } from './cpu/device.js';
export type { Engine, Phase, Region } from './engine.js';
export { BatchError, type Batch } from './data/batch.js';
export { buildPlan, destroyPlan, largestBatch, Plan, type PlanOptions } from './plan.js';
export {
  referenceForward,
  referenceLoss,
  referenceBackward,
  referenceGradients,
  toFloat64,
  type Tensors64,
  type ForwardTrace,
  type LevelTrace,
  type LossResult,
} from './reference/model.js';
export { fit, shuffle, metricValue, NonFiniteError, type FitOptions, type FitResult, type EpochReport } from './training/fit.js';
export { evaluate, gateReportsOf, type EvalReport, type GateReport } from './training/evaluate.js';
export { learningRate, taskWeightsAt, type Decay } from './training/schedule.js';
export { auc, logLoss, mse, taskMetrics, gateStatistics, type TaskMetrics, type GateStatistics } from './metrics.js';
export { gatherBatch, type Dataset, type Split, type TaskInfo } from './data/dataset.js';
export { syntheticDataset, csvDataset, adultSchema, type SyntheticDatasetOptions, type CsvDatasetOptions } from './data/sources.js';
export { SyntheticTasks, type SyntheticOptions, type SyntheticSplit, type SyntheticBatch } from './data/synthetic.js';
export { parseCsv, DataError, type ParsedCsv } from './data/csv.js';
export { fitTargetScaling, scaleTargets, targetScalingFromJSON, reportInTargetUnits, epochInTargetUnits, predictionsInTargetUnits, NO_SCALING, type TargetScaling } from './data/targets.js';
export { fitTabular, splitRows, TabularEncoder, type TabularSchema, type LabelRole, type TabularData, type TabularEncoderJSON } from './data/tabular.js';
export { checkpointBytes, readCheckpoint, loadCheckpoint, trainerFromCheckpoint, CHECKPOINT_FORMAT, type Checkpoint } from './checkpoint/checkpoint.js';
export type { TrainingState, DataState, EarlyStoppingState } from './checkpoint/metadata.js';
export { encodeSafetensors, decodeSafetensors, CheckpointError, type NamedTensor } from './checkpoint/safetensors.js';
export { exportOnnx, OnnxExportError, onnxNames, ONNX_ENCODER_KEY, ONNX_OPSET, type OnnxExportOptions, type ExportableModel } from './export/onnx.js';
export { Predictor, CsvEncoding, encoderOfCheckpoint, gateColumn, type EncodedChunk, type PredictOptions } from './serving/predict.js';
export { readCsvChunks, type CsvInput } from './serving/csv-chunks.js';
