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
 * Metadata (strings): format, config (the model config as JSON), optimizer (JSON),
 * step (optimizer steps taken), and optional training (JSON: epoch, history, options)
 * and data (JSON: how inputs were encoded) for resuming and predicting.
 */
import type { GpuContext } from '../gpu/context.js';
import type { ModelConfig, ResolvedModelConfig } from '../config.js';
import type { OptimizerConfig } from '../config.js';
import { Trainer, type TrainerOptions } from '../trainer.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'ple-webgpu-checkpoint/1';

export interface Checkpoint {
  config: ResolvedModelConfig;
  optimizer: OptimizerConfig;
  step: number;
  params: Map<string, Float32Array>;
  m1: Map<string, Float32Array>;
  m2: Map<string, Float32Array>;
  training?: unknown;
  data?: unknown;
}

export async function checkpointBytes(trainer: Trainer, extra: { training?: unknown; data?: unknown } = {}): Promise<Uint8Array> {
  const params = await trainer.readParams();
  const { m1, m2 } = await trainer.readOptimizerState();
  const tensors: NamedTensor[] = [];
  for (const [prefix, map] of [['', params], ['optimizer.m1.', m1], ['optimizer.m2.', m2]] as const) {
    for (const p of trainer.spec.params) tensors.push({ name: prefix + p.name, shape: p.shape, data: map.get(p.name)! });
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
  for (const [name, t] of tensors) {
    if (name.startsWith('optimizer.m1.')) m1.set(name.slice(13), t.data);
    else if (name.startsWith('optimizer.m2.')) m2.set(name.slice(13), t.data);
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
    training: metadata.training !== undefined ? json('training') : undefined,
    data: metadata.data !== undefined ? json('data') : undefined,
  };
}

/** Loads a checkpoint into a trainer of the same model; refuses one of another model. */
export function loadCheckpoint(trainer: Trainer, ckpt: Checkpoint, source = 'checkpoint'): void {
  const mine = JSON.stringify(trainer.spec.config);
  const theirs = JSON.stringify(ckpt.config);
  if (mine !== theirs) throw new CheckpointError(source, `checkpoint is for another model:\n  checkpoint: ${theirs}\n  this model: ${mine}`);
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
  ctx: GpuContext,
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
