/**
 * What a {@link Trainer} runs its step on: a GPU plan (src/gpu/engine.ts) or the CPU device
 * (src/cpu/engine.ts). Both hold the same arenas, laid out from the same step description
 * (src/layers/model.ts), and run the same op lists; the trainer sees only this interface.
 */
import type { ArenaLayout } from './arena.js';
import type { ResolvedOptimizer } from './config.js';
import type { Batch } from './data/batch.js';
import type { BufferRole } from './layers/ops.js';

/** The op lists of a step, in the order a training step runs them. */
export type Phase = 'forward' | 'loss' | 'backward' | 'optimizer';

/** Elements [offset, offset + size) of one of the engine's buffers. */
export interface Region {
  role: BufferRole;
  offset: number;
  size: number;
}

/** Where a trainer's step runs: the arenas, the per-step setters, and running the op lists with reads after them. */
export interface Engine {
  /** Which device runs the ops. */
  readonly device: 'gpu' | 'cpu';
  /** Rows per step (the arenas' capacity). */
  readonly batchSize: number;
  readonly params: ArenaLayout;
  readonly activations: ArenaLayout;
  /** The optimizer's state for step `step` (1-based): hyperparameters, learning rate and gradient scale. */
  setOptimizerStep(optimizer: ResolvedOptimizer, step: number, lr: number, gradScale: number): void;
  /** The loss weights w_k (under uncertainty weighting the effective ones are derived from them in the step). */
  setTaskWeights(weights: readonly number[]): void;
  /** Clips the global gradient norm to `maxNorm` before each update (0: off). */
  setGradientClip(maxNorm: number): void;
  /** Validates a batch and writes it, padded to the batch size with masked rows (throws BatchError). */
  writeBatch(batch: Batch): void;
  /** Runs the phases' ops in order and resolves the floats of `reads` as they are after them, concatenated. */
  run(phases: readonly Phase[], reads: readonly Region[]): Promise<Float32Array>;
  /** A copy of a region as it is after every run so far. */
  read(region: Region): Promise<Float32Array>;
  /** Overwrites `data.length` elements of a buffer from `offset`, before the next run. */
  write(role: BufferRole, offset: number, data: Float32Array<ArrayBuffer>): void;
  /** Throws if the device can no longer run anything (DeviceLostError on a lost GPU). */
  assertAlive(): void;
  /** Frees what the engine holds. */
  destroy(): void;
}
