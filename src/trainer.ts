/**
 * The trainer: owns an engine (a GPU plan or the CPU device, src/engine.ts) and runs it. A training
 * step writes the batch and runs forward, loss, backward and the optimizer as one submission; the
 * step's losses come back as a promise, so a caller can keep submitting steps and read losses a
 * few steps behind.
 */
import type { GpuContext } from './gpu/context.js';
import { GpuEngine } from './gpu/engine.js';
import { CpuEngine } from './cpu/engine.js';
import { isCpuDevice, type CpuDevice } from './cpu/device.js';
import type { Engine, Phase } from './engine.js';
import type { ModelConfig } from './config.js';
import { buildSpec, type ModelSpec } from './spec.js';
import { initParams, type ParamTensors } from './init.js';
import { buildPlan, type Plan } from './plan.js';
import { resolveOptimizer, type OptimizerConfig, type ResolvedOptimizer } from './config.js';
import type { GemmTuning, GemmTuningChooser } from './kernels/batched_gemm.js';
import type { ReductionPaths } from './reductions.js';
import { BatchError, type Batch } from './data/batch.js';
import { activationNames } from './layers/activations.js';

export { BatchError, type Batch };

/** Options of {@link Trainer.create}. */
export interface TrainerOptions {
  /** Rows per step (the plan's capacity); smaller batches are padded and masked. */
  batchSize: number;
  /** The optimizer and its base learning rate (default Adam, lr 1e-3). */
  optimizer?: OptimizerConfig;
  /** Seed of the parameter initialisation. */
  seed?: number;
  /** One GEMM tuning, or a per-dispatch chooser (src/tuning.ts); default: chosen by adapter (GPU only). */
  gemmTuning?: GemmTuning | GemmTuningChooser;
  /** The path of each reduction kernel, plain or subgroup (src/reductions.ts); default: chosen by device (GPU only). */
  reductions?: Partial<ReductionPaths>;
  /** Each level's gate softmax and mixtures in one dispatch (default false; see PlanOptions). */
  fuseGateMixture?: boolean;
}

/** The losses of one submitted step, as {@link Trainer.step} resolves them. */
export interface StepResult {
  /** Optimizer steps taken when this result was produced. */
  step: number;
  /** Unweighted masked mean loss per task. */
  taskLoss: number[];
  /** Labelled samples per task in the batch. */
  taskCount: number[];
  /** sum_k w_k L_k with the weights w_k in force (without the uncertainty terms, if any). */
  total: number;
  /** Global gradient norm before clipping (NaN when the submission did not compute it). */
  gradNorm: number;
}

/**
 * Trains and runs one model on one device: {@link Trainer.create} compiles the config into an
 * engine (a GPU plan, or the CPU device's); {@link Trainer.step} runs a training step as one
 * submission and resolves its losses later; {@link Trainer.predict} and {@link Trainer.infer} run
 * the forward pass. Methods throw {@link BatchError} for a malformed batch and DeviceLostError once
 * the GPU is lost; call {@link Trainer.destroy} to free the memory.
 */
export class Trainer {
  private stepCount = 0;
  private lr: number;
  private taskWeights: number[];
  private destroyed = false;

  private constructor(
    readonly engine: Engine,
    readonly spec: ModelSpec,
    readonly optimizer: ResolvedOptimizer,
  ) {
    this.lr = optimizer.lr;
    this.taskWeights = spec.config.tasks.map((t) => t.weight);
    engine.setTaskWeights(this.taskWeights);
    this.setGradientClip(0);
  }

  /** The GPU plan this trainer runs (throws on the CPU device, which has none). */
  get plan(): Plan {
    if (!(this.engine instanceof GpuEngine)) throw new Error('a trainer on the CPU device has no GPU plan');
    return this.engine.plan;
  }

  /**
   * Validates `config`, compiles it for `options.batchSize` rows per step and initialises the
   * parameters from `options.seed`.
   * @throws ConfigError naming the offending config field; LimitError when the plan does not fit
   *   the device's limits (with the largest batch size that fits); ShaderCompileError when a
   *   kernel fails to compile on this device.
   */
  static async create(device: GpuContext | CpuDevice, config: ModelConfig, options: TrainerOptions): Promise<Trainer> {
    const spec = buildSpec(config);
    const optimizer = resolveOptimizer(options.optimizer ?? { kind: 'adam', lr: 1e-3 });
    const engine = isCpuDevice(device)
      ? await CpuEngine.create(spec, { batchSize: options.batchSize, fuseGateMixture: options.fuseGateMixture, threads: device.threads, minFlopsPerThread: device.minFlopsPerThread })
      : new GpuEngine(device, await buildPlan(device, spec, { batchSize: options.batchSize, gemmTuning: options.gemmTuning, reductions: options.reductions, fuseGateMixture: options.fuseGateMixture }));
    const trainer = new Trainer(engine, spec, optimizer);
    trainer.writeParams(initParams(spec, options.seed ?? 0));
    return trainer;
  }

  /** Rows per step the plan holds; a smaller batch is padded with masked rows. */
  get batchSize(): number {
    return this.engine.batchSize;
  }

  /** Optimizer steps taken (restored from a checkpoint by {@link Trainer.writeOptimizerState}). */
  get steps(): number {
    return this.stepCount;
  }

  /** Sets the learning rate used from the next step on (schedules call this). */
  setLearningRate(lr: number): void {
    if (!Number.isFinite(lr) || lr < 0) throw new RangeError(`learning rate must be a finite number >= 0, got ${lr}`);
    this.lr = lr;
  }

  /** Sets the loss weights w_k used from the next step on (dynamic weighting calls this). */
  setTaskWeights(weights: number[]): void {
    if (weights.length !== this.spec.numTasks || weights.some((w) => !Number.isFinite(w) || w < 0)) {
      throw new RangeError(`task weights must be ${this.spec.numTasks} finite numbers >= 0, got [${weights.join(', ')}]`);
    }
    this.taskWeights = [...weights];
    this.engine.setTaskWeights(this.taskWeights);
  }

  /** Clips the global gradient norm to `maxNorm` in the step, before each update (0 turns clipping off). */
  setGradientClip(maxNorm: number): void {
    if (!Number.isFinite(maxNorm) || maxNorm < 0) throw new RangeError(`gradient clip norm must be a finite number >= 0, got ${maxNorm}`);
    this.engine.setGradientClip(maxNorm);
  }

  /** One training step: forward, loss, backward and the optimizer update, in one submission. */
  step(batch: Batch, gradScale = 1): Promise<StepResult> {
    this.writeBatch(batch);
    this.stepCount++;
    this.engine.setOptimizerStep(this.optimizer, this.stepCount, this.lr, gradScale);
    return this.submit(['forward', 'loss', 'backward', 'optimizer'], true);
  }

  /** Forward, loss and backward without updating: gradients are left in the gradient buffer. */
  computeGradients(batch: Batch): Promise<StepResult> {
    this.writeBatch(batch);
    return this.submit(['forward', 'loss', 'backward']);
  }

  /** Forward and loss only. */
  evaluate(batch: Batch): Promise<StepResult> {
    this.writeBatch(batch);
    return this.submit(['forward', 'loss']);
  }

  /**
   * Predictions for `rows` input rows (any number; run in chunks of the batch size):
   * per task, the probability for binary tasks and the value for regression tasks.
   */
  async predict(x: ArrayLike<number>, rows: number, categorical?: ArrayLike<number>): Promise<Float32Array[]> {
    return (await this.infer(x, rows, false, categorical)).predictions;
  }

  /**
   * Predictions, the tower outputs before the sigmoid (logits; equal to the predictions of
   * regression tasks) and, per level, every sample's gate weights ([rows x gateColumns]; gate g
   * of level j in columns spec.levels[j].gates[g].column onwards): what the gates view and
   * the gate statistics read.
   */
  async infer(
    x: ArrayLike<number>,
    rows: number,
    withGates = true,
    categorical?: ArrayLike<number>,
  ): Promise<{ predictions: Float32Array[]; logits: Float32Array[]; gates: Float32Array[] }> {
    const T = this.spec.embeddings.length;
    const K = this.spec.numTasks;
    const B = this.batchSize;
    const din = this.spec.inputDim;
    if (x.length !== rows * din) throw new BatchError(`predict: x has ${x.length} values, expected rows (${rows}) x inputDim (${din}) = ${rows * din}`);
    const predictions = Array.from({ length: K }, () => new Float32Array(rows));
    // The raw outputs: confident logits above ~17 all round to probability 1.0 in f32, so ranking (AUC) reads these.
    const logits = Array.from({ length: K }, () => new Float32Array(rows));
    const levels = withGates ? this.spec.levels : [];
    const gates = levels.map((l) => new Float32Array(rows * l.gateColumns));
    // What to copy back per chunk: the logits, then each level's gate weights.
    const views = [this.engine.activations.get(activationNames.logits(this.spec)), ...levels.map((l) => this.engine.activations.get(activationNames.gates(l.index)))];
    const reads = views.map((v) => ({ role: 'act' as const, offset: v.offset, size: v.size }));
    for (let start = 0; start < rows; start += B) {
      const n = Math.min(B, rows - start);
      this.writeBatch({
        rows: n,
        x: slice(x, start * din, n * din),
        labels: new Float32Array(n * K),
        mask: new Float32Array(n * K),
        categorical: categorical && slice(categorical, start * T, n * T),
      });
      const data = await this.engine.run(['forward'], reads);
      for (let k = 0; k < K; k++) {
        const binary = this.spec.config.tasks[k].type === 'binary';
        for (let r = 0; r < n; r++) {
          const z = data[k * B + r];
          logits[k][start + r] = z;
          predictions[k][start + r] = binary ? 1 / (1 + Math.exp(-z)) : z;
        }
      }
      let offset = views[0].size;
      levels.forEach((l, i) => {
        gates[i].set(data.subarray(offset, offset + n * l.gateColumns), start * l.gateColumns);
        offset += views[i + 1].size;
      });
    }
    return { predictions, logits, gates };
  }

  /** Parameters by name (a copy, read back from the device). */
  readParams(): Promise<ParamTensors> {
    return this.readTensors('params');
  }

  /** Gradients of the last step by name, same names as the parameters. */
  readGradients(): Promise<ParamTensors> {
    return this.readTensors('grads');
  }

  /** Optimizer moments by name (for checkpoints). */
  async readOptimizerState(): Promise<{ m1: ParamTensors; m2: ParamTensors }> {
    return { m1: await this.readTensors('m1'), m2: await this.readTensors('m2') };
  }

  /** An activation (or `<name>.grad`) of the last forward/backward pass, e.g. `level0.gates`. */
  async readActivation(name: string): Promise<Float32Array> {
    const view = this.engine.activations.get(name);
    return this.engine.read({ role: 'act', offset: view.offset, size: view.size });
  }

  /**
   * Overwrites the parameters with `tensors` (every parameter of {@link ModelSpec.params}, by name).
   * Throws Error naming a missing tensor or one of the wrong size.
   */
  writeParams(tensors: Map<string, ArrayLike<number>>): void {
    this.writeTensors('params', tensors);
  }

  /** Overwrites the optimizer moments (as {@link Trainer.writeParams}) and the step count, to resume training. */
  writeOptimizerState(state: { m1: Map<string, ArrayLike<number>>; m2: Map<string, ArrayLike<number>> }, steps: number): void {
    this.writeTensors('m1', state.m1);
    this.writeTensors('m2', state.m2);
    this.stepCount = steps;
  }

  /** Frees every buffer the trainer allocated. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.engine.destroy();
  }

  private submit(phases: Phase[], withNorm = false): Promise<StepResult> {
    if (this.destroyed) throw new Error('this trainer was destroyed');
    const K = this.spec.numTasks;
    const loss = this.engine.activations.get(activationNames.loss);
    const step = this.stepCount;
    const weights = [...this.taskWeights];
    const reads = [{ role: 'act' as const, offset: loss.offset, size: 2 * K }, ...(withNorm ? [{ role: 'clip' as const, offset: 0, size: 2 }] : [])];
    return this.engine.run(phases, reads).then((v) => {
      const taskLoss = Array.from({ length: K }, (_, k) => v[2 * k]);
      const taskCount = Array.from({ length: K }, (_, k) => v[2 * k + 1]);
      const gradNorm = withNorm ? v[2 * K + 1] : NaN;
      return { step, taskLoss, taskCount, total: taskLoss.reduce((a, l, k) => a + weights[k] * l, 0), gradNorm };
    });
  }

  /** Validates a batch and writes it, padded to the batch size with masked rows. */
  private writeBatch(batch: Batch): void {
    this.engine.assertAlive();
    this.engine.writeBatch(batch);
  }

  private async readTensors(role: 'params' | 'grads' | 'm1' | 'm2'): Promise<ParamTensors> {
    const all = await this.engine.read({ role, offset: 0, size: this.engine.params.size });
    const out: ParamTensors = new Map();
    for (const p of this.spec.params) {
      const v = this.engine.params.get(p.name);
      out.set(p.name, all.slice(v.offset, v.offset + v.size));
    }
    return out;
  }

  private writeTensors(role: 'params' | 'm1' | 'm2', tensors: Map<string, ArrayLike<number>>): void {
    const all = new Float32Array(this.engine.params.size);
    for (const p of this.spec.params) {
      const t = tensors.get(p.name);
      if (!t) throw new Error(`missing tensor ${p.name}`);
      if (t.length !== p.size) throw new Error(`tensor ${p.name} has ${t.length} values, expected ${p.size} (shape [${p.shape.join(', ')}])`);
      all.set(t, this.engine.params.get(p.name).offset);
    }
    this.engine.write(role, 0, all);
  }
}

function slice(a: ArrayLike<number>, start: number, length: number): ArrayLike<number> {
  return Array.prototype.slice.call(a, start, start + length) as number[];
}
