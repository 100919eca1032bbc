/**
 * Checkpoints: a trainer's full state in one safetensors file.
 *
 * Naming scheme (one F32 tensor each):
 *   <parameter name>            the parameters, named as in spec.ts, e.g.
 *                               level0.task1.experts.layer0.weight [in, experts*width]
 *                               (expert e of the group owns columns e*width .. (e+1)*width),
 *                               level0.task1.experts.layer1.weight [experts, in, width],
 *                               level1.shared.gate.weight [in, experts], tower.task0.layer2.bias [1]
 *   optimizer.m1.<parameter>    first optimizer moment (Adam m, SGD momentum)
 *   optimizer.m2.<parameter>    second optimizer moment (Adam v)
 *   best.<parameter>            optional: early stopping's best parameters so far
 * Metadata (strings): format, config (the model config as JSON), optimizer (JSON),
 * step (optimizer steps taken), and optional training and data (JSON; their forms are
 * declared in metadata.ts) for resuming and predicting.
 */
import type { GpuContext } from '../gpu/context.js';
import type { CpuDevice } from '../cpu/device.js';
import type { ModelConfig, ResolvedModelConfig } from '../config.js';
import type { OptimizerConfig } from '../config.js';
import { Trainer, type TrainerOptions } from '../trainer.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';
import { readDataState, readTrainingState, type DataState, type TrainingState } from './metadata.js';

/** The `format` metadata of the checkpoints this version writes and reads; it changes when the format does. */
export const CHECKPOINT_FORMAT = 'ple-webgpu-checkpoint/1';

/** A checkpoint read back ({@link readCheckpoint}): a model config, its parameters and optimizer state, and what the writer added. */
export interface Checkpoint {
  /** The model config the parameters belong to. */
  config: ResolvedModelConfig;
  optimizer: OptimizerConfig;
  /** Optimizer steps taken. */
  step: number;
  /** Parameters by name (see {@link ModelSpec.params}). */
  params: Map<string, Float32Array>;
  /** First optimizer moment by parameter name (Adam m, SGD momentum). */
  m1: Map<string, Float32Array>;
  /** Second optimizer moment by parameter name (Adam v). */
  m2: Map<string, Float32Array>;
  /** Early stopping's best parameters so far, when the run kept them. */
  best?: Map<string, Float32Array>;
  /** How far the run got and how it was set up (declared in metadata.ts; checked when read). */
  training?: TrainingState;
  /** How its inputs were made: the synthetic options, or a tabular run's roles, split and encoder. */
  data?: DataState;
}

/** What {@link checkpointBytes} stores beside the trainer's state. */
export interface CheckpointExtras {
  /** How far the run got and how it was set up, for resuming. */
  training?: TrainingState;
  /** How its inputs were made, so they can be made again. */
  data?: DataState;
  /** Early stopping's best parameters so far (stored as best.<parameter>). */
  best?: Map<string, Float32Array>;
}

/**
 * A trainer's full state as the bytes of a safetensors file: parameters, optimizer moments, the
 * model config, optimizer and step count, plus the optional extras. Write them with
 * `writeFileAtomic` (`ple-webgpu/node`) so a crash never leaves half a file.
 * @throws DeviceLostError when the device is lost while reading the state back.
 */
export async function checkpointBytes(trainer: Trainer, extra: CheckpointExtras = {}): Promise<Uint8Array> {
  const params = await trainer.readParams();
  const { m1, m2 } = await trainer.readOptimizerState();
  const tensors: NamedTensor[] = [];
  const sets: [string, Map<string, Float32Array>][] = [['', params], ['optimizer.m1.', m1], ['optimizer.m2.', m2]];
  if (extra.best) sets.push(['best.', extra.best]);
  for (const [prefix, map] of sets) {
    for (const p of trainer.spec.params) {
      const data = map.get(p.name);
      if (!data || data.length !== p.size) throw new RangeError(`checkpointBytes: ${prefix}${p.name} is missing or has the wrong size`);
      tensors.push({ name: prefix + p.name, shape: p.shape, data });
    }
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    config: JSON.stringify(trainer.spec.config),
    optimizer: JSON.stringify(trainer.optimizer),
    step: String(trainer.steps),
  };
  if (extra.training !== undefined) metadata.training = JSON.stringify(extra.training);
  if (extra.data !== undefined) metadata.data = JSON.stringify(extra.data);
  return encodeSafetensors(tensors, metadata);
}

/**
 * Decodes a checkpoint file's bytes.
 * @param source the name used in error messages (usually the file name).
 * @throws CheckpointError starting with `source` when the bytes are not a complete safetensors file
 *   or not a ple-webgpu checkpoint of this format, or its metadata is malformed.
 */
export function readCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Checkpoint {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(source, `not a ple-webgpu checkpoint (metadata "format" is ${JSON.stringify(metadata.format ?? null)}, expected "${CHECKPOINT_FORMAT}")`);
  }
  const json = (key: string) => {
    try {
      return JSON.parse(metadata[key]);
    } catch {
      throw new CheckpointError(source, `metadata "${key}" is not valid JSON`);
    }
  };
  const config = json('config') as ResolvedModelConfig;
  const params = new Map<string, Float32Array>();
  const m1 = new Map<string, Float32Array>();
  const m2 = new Map<string, Float32Array>();
  const best = new Map<string, Float32Array>();
  for (const [name, t] of tensors) {
    if (name.startsWith('optimizer.m1.')) m1.set(name.slice(13), t.data);
    else if (name.startsWith('optimizer.m2.')) m2.set(name.slice(13), t.data);
    else if (name.startsWith('best.')) best.set(name.slice(5), t.data);
    else params.set(name, t.data);
  }
  const step = Number(metadata.step);
  if (!Number.isInteger(step) || step < 0) throw new CheckpointError(source, `metadata "step" must be a non-negative integer, got ${metadata.step}`);
  return {
    config,
    optimizer: json('optimizer') as OptimizerConfig,
    step,
    params,
    m1,
    m2,
    best: best.size > 0 ? best : undefined,
    training: metadata.training !== undefined ? readTrainingState(json('training'), source) : undefined,
    data: metadata.data !== undefined ? readDataState(json('data'), source) : undefined,
  };
}

/**
 * Loads a checkpoint into a trainer of the same model and optimizer kind; refuses one of another
 * model, or of another optimizer (its moments would mean something else: Adam's m as momentum).
 */
export function loadCheckpoint(trainer: Trainer, ckpt: Checkpoint, source = 'checkpoint'): void {
  const mine = JSON.stringify(trainer.spec.config);
  const theirs = JSON.stringify(ckpt.config);
  if (mine !== theirs) throw new CheckpointError(source, `checkpoint is for another model:\n  checkpoint: ${theirs}\n  this model: ${mine}`);
  if (trainer.optimizer.kind !== ckpt.optimizer?.kind) {
    throw new CheckpointError(source, `checkpoint was trained with optimizer ${JSON.stringify(ckpt.optimizer?.kind)}, this trainer uses ${JSON.stringify(trainer.optimizer.kind)}: its moments would be misread`);
  }
  for (const p of trainer.spec.params) {
    for (const [what, map] of [['parameter', ckpt.params], ['optimizer.m1 of', ckpt.m1], ['optimizer.m2 of', ckpt.m2]] as const) {
      const t = map.get(p.name);
      if (!t) throw new CheckpointError(source, `${what} ${p.name} is missing`);
      if (t.length !== p.size) throw new CheckpointError(source, `${what} ${p.name} has ${t.length} values, the model needs ${p.size}`);
    }
  }
  trainer.writeParams(ckpt.params);
  trainer.writeOptimizerState({ m1: ckpt.m1, m2: ckpt.m2 }, ckpt.step);
}

/** A new trainer holding the checkpoint's model and state. */
export async function trainerFromCheckpoint(
  ctx: GpuContext | CpuDevice,
  ckpt: Checkpoint,
  options: Omit<TrainerOptions, 'optimizer' | 'seed'>,
  source = 'checkpoint',
): Promise<Trainer> {
  const trainer = await Trainer.create(ctx, ckpt.config as ModelConfig, { ...options, optimizer: ckpt.optimizer });
  try {
    loadCheckpoint(trainer, ckpt, source);
  } catch (e) {
    trainer.destroy();
    throw e;
  }
  return trainer;
}
