/**
 * Model configuration: what the user writes, its validation, and presets for
 * the model families the runtime covers (PLE, CGC, MMoE, shared-bottom,
 * single-task). Everything is expressed as PLE levels; see DESIGN.md §1.
 */

export type TaskType = 'binary' | 'regression';

/** One task of a model: its name, loss and static loss weight. */
export interface TaskConfig {
  /** Shown in metrics and logs. */
  name: string;
  /** `binary`: cross-entropy on a logit. `regression`: squared error. */
  type: TaskType;
  /** Static loss weight w_k (default 1). */
  weight?: number;
}

/** One extraction level: how many experts each task has, how many are shared, and their widths. */
export interface LevelConfig {
  /** Task-specific experts of each task (one number for all tasks, or one per task). */
  taskExperts: number | number[];
  /** Experts shared by all tasks. */
  sharedExperts: number;
  /** Widths of each expert's Linear+ReLU layers (all experts of a level alike). */
  expertWidths: number[];
}

/** A learned embedding table: a categorical input column looked up on the GPU. */
export interface EmbeddingConfig {
  /** Shown in parameter names (`embedding.<name>`). */
  name: string;
  /** Rows of the table; row 0 is by convention the reserved row for unknown values. */
  vocabulary: number;
  /** Width of an embedding vector. */
  dim: number;
}

/**
 * A model as the user writes it; {@link ple}, {@link cgc}, {@link mmoe}, {@link sharedBottom} and
 * {@link singleTask} build one. Validated by {@link resolveConfig} (which {@link Trainer.create} calls).
 */
export interface ModelConfig {
  /** Width of the dense part of an input row. */
  inputDim: number;
  /** Categorical inputs through embedding tables; their vectors follow the dense inputs. */
  embeddings?: EmbeddingConfig[];
  tasks: TaskConfig[];
  /** Extraction levels, first to last. One level is CGC. */
  levels: LevelConfig[];
  /** Hidden widths of each task tower; a final Linear to one output is always added. */
  towerWidths: number[];
  /** Give gates a bias term (the paper's gates have none). Default false. */
  gateBias?: boolean;
  /**
   * Learn a log-variance s_k per task and minimise sum_k w_k (exp(-s_k) L_k + s_k)
   * (uncertainty weighting, Kendall et al. 2018). Default false.
   */
  uncertaintyWeighting?: boolean;
}

/** A configuration error; `field` is the path of the offending field. */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
    this.name = 'ConfigError';
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(describe).join(', ')}]`;
  return String(v);
}

function checkInt(v: unknown, field: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ConfigError(field, `must be an integer >= ${min}, got ${describe(v)}`);
  }
  return v;
}

function checkWidths(v: unknown, field: string, allowEmpty: boolean): number[] {
  if (!Array.isArray(v)) throw new ConfigError(field, `must be an array of widths, got ${describe(v)}`);
  if (!allowEmpty && v.length === 0) throw new ConfigError(field, 'must list at least one width');
  v.forEach((w, i) => checkInt(w, `${field}[${i}]`, 1));
  return v as number[];
}

/** A validated configuration with every default filled in and per-task counts expanded. */
export interface ResolvedModelConfig {
  inputDim: number;
  embeddings: EmbeddingConfig[];
  tasks: Required<TaskConfig>[];
  levels: { taskExperts: number[]; sharedExperts: number; expertWidths: number[] }[];
  towerWidths: number[];
  gateBias: boolean;
  uncertaintyWeighting: boolean;
}

/** Validates a configuration; throws ConfigError naming the first offending field. */
export function resolveConfig(config: ModelConfig): ResolvedModelConfig {
  if (config === null || typeof config !== 'object') throw new ConfigError('config', 'must be an object');
  const embeddings = (config.embeddings ?? []).map((e, i) => {
    const f = `embeddings[${i}]`;
    if (e === null || typeof e !== 'object') throw new ConfigError(f, 'must be an object');
    if (typeof e.name !== 'string' || e.name.length === 0) throw new ConfigError(`${f}.name`, `must be a non-empty string, got ${describe(e.name)}`);
    return { name: e.name, vocabulary: checkInt(e.vocabulary, `${f}.vocabulary`, 1), dim: checkInt(e.dim, `${f}.dim`, 1) };
  });
  const embeddingNames = new Set<string>();
  embeddings.forEach((e, i) => {
    if (embeddingNames.has(e.name)) throw new ConfigError(`embeddings[${i}].name`, `duplicate embedding name ${describe(e.name)}`);
    embeddingNames.add(e.name);
  });
  // A model may take only embeddings (no dense column).
  const inputDim = checkInt(config.inputDim, 'inputDim', embeddings.length > 0 ? 0 : 1);
  if (!Array.isArray(config.tasks) || config.tasks.length === 0) {
    throw new ConfigError('tasks', 'at least one task is required');
  }
  const names = new Set<string>();
  const tasks = config.tasks.map((t, k) => {
    const f = `tasks[${k}]`;
    if (t === null || typeof t !== 'object') throw new ConfigError(f, 'must be an object');
    if (typeof t.name !== 'string' || t.name.length === 0) {
      throw new ConfigError(`${f}.name`, `must be a non-empty string, got ${describe(t.name)}`);
    }
    if (names.has(t.name)) throw new ConfigError(`${f}.name`, `duplicate task name ${describe(t.name)}`);
    names.add(t.name);
    if (t.type !== 'binary' && t.type !== 'regression') {
      throw new ConfigError(`${f}.type`, `must be "binary" or "regression", got ${describe(t.type)}`);
    }
    const weight = t.weight ?? 1;
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
      throw new ConfigError(`${f}.weight`, `must be a finite number >= 0, got ${describe(t.weight)}`);
    }
    return { name: t.name, type: t.type, weight };
  });
  const K = tasks.length;
  if (!Array.isArray(config.levels) || config.levels.length === 0) {
    throw new ConfigError('levels', 'at least one level is required');
  }
  const levels = config.levels.map((level, j) => {
    const f = `levels[${j}]`;
    if (level === null || typeof level !== 'object') throw new ConfigError(f, 'must be an object');
    let taskExperts: number[];
    if (Array.isArray(level.taskExperts)) {
      if (level.taskExperts.length !== K) {
        throw new ConfigError(
          `${f}.taskExperts`,
          `has ${level.taskExperts.length} entries but there are ${K} tasks`,
        );
      }
      taskExperts = level.taskExperts.map((m, k) => checkInt(m, `${f}.taskExperts[${k}]`, 0));
    } else {
      const m = checkInt(level.taskExperts, `${f}.taskExperts`, 0);
      taskExperts = tasks.map(() => m);
    }
    const sharedExperts = checkInt(level.sharedExperts, `${f}.sharedExperts`, 0);
    const expertWidths = checkWidths(level.expertWidths, `${f}.expertWidths`, false);
    // Every gate needs an expert: task k's gate mixes its own and the shared experts.
    taskExperts.forEach((m, k) => {
      if (m + sharedExperts === 0) {
        throw new ConfigError(
          `${f}.taskExperts`,
          `the gate of task ${describe(tasks[k].name)} has no experts (0 task experts and 0 shared experts)`,
        );
      }
    });
    return { taskExperts, sharedExperts, expertWidths };
  });
  const towerWidths = checkWidths(config.towerWidths ?? [], 'towerWidths', true);
  const gateBias = config.gateBias ?? false;
  if (typeof gateBias !== 'boolean') throw new ConfigError('gateBias', `must be true or false, got ${describe(gateBias)}`);
  const uncertaintyWeighting = config.uncertaintyWeighting ?? false;
  if (typeof uncertaintyWeighting !== 'boolean') {
    throw new ConfigError('uncertaintyWeighting', `must be true or false, got ${describe(uncertaintyWeighting)}`);
  }
  return { inputDim, embeddings, tasks, levels, towerWidths, gateBias, uncertaintyWeighting };
}

interface CommonOptions {
  inputDim: number;
  embeddings?: EmbeddingConfig[];
  uncertaintyWeighting?: boolean;
  tasks: TaskConfig[];
  towerWidths: number[];
  gateBias?: boolean;
}

/** PLE: `levels` stacked extraction levels (Tang et al. 2020, eq. 6-7). */
export function ple(
  o: CommonOptions & { levels: number; taskExperts: number | number[]; sharedExperts: number; expertWidths: number[] },
): ModelConfig {
  checkInt(o.levels, 'levels', 1);
  const level = { taskExperts: o.taskExperts, sharedExperts: o.sharedExperts, expertWidths: o.expertWidths };
  return {
    inputDim: o.inputDim,
    embeddings: o.embeddings,
    tasks: o.tasks,
    levels: Array.from({ length: o.levels }, () => ({ ...level })),
    towerWidths: o.towerWidths,
    gateBias: o.gateBias,
    uncertaintyWeighting: o.uncertaintyWeighting,
  };
}

/** CGC: PLE with one level. */
export function cgc(
  o: CommonOptions & { taskExperts: number | number[]; sharedExperts: number; expertWidths: number[] },
): ModelConfig {
  return ple({ ...o, levels: 1 });
}

/** MMoE: one level of shared experts, one gate per task (Ma et al. 2018). */
export function mmoe(o: CommonOptions & { experts: number; expertWidths: number[] }): ModelConfig {
  return ple({ ...o, levels: 1, taskExperts: 0, sharedExperts: o.experts });
}

/** Shared-bottom: one shared MLP feeding the towers, no gates. */
export function sharedBottom(o: CommonOptions & { bottomWidths: number[] }): ModelConfig {
  return ple({ ...o, levels: 1, taskExperts: 0, sharedExperts: 1, expertWidths: o.bottomWidths });
}

/** Single-task: one task, an MLP (a shared bottom with one tower). */
export function singleTask(
  o: Omit<CommonOptions, 'tasks'> & { task: TaskConfig; bottomWidths: number[] },
): ModelConfig {
  return sharedBottom({ ...o, tasks: [o.task] });
}

/** The optimizer a trainer applies (src/kernels/optimizer.ts runs it). */
export type OptimizerConfig =
  | { kind: 'adam' | 'adamw'; lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number }
  | { kind: 'sgd'; lr: number; momentum?: number; weightDecay?: number };

/** An optimizer config with every default filled in ({@link resolveOptimizer}). */
export interface ResolvedOptimizer {
  kind: 'sgd' | 'adam' | 'adamw';
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  momentum: number;
}

/**
 * Validates an optimizer config and fills in its defaults (Adam: beta1 0.9, beta2 0.999, eps 1e-8).
 * @throws ConfigError naming the field (`optimizer.lr`, `optimizer.beta1`, ...) that is missing or out of range.
 */
export function resolveOptimizer(o: OptimizerConfig): ResolvedOptimizer {
  const num = (v: unknown, field: string, ok: (x: number) => boolean, rule: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new ConfigError(`optimizer.${field}`, `must be ${rule}, got ${String(v)}`);
    return v;
  };
  if (!o || !['sgd', 'adam', 'adamw'].includes(o.kind)) {
    throw new ConfigError('optimizer.kind', `must be "sgd", "adam" or "adamw", got ${JSON.stringify(o?.kind)}`);
  }
  const lr = num(o.lr, 'lr', (x) => x >= 0, 'a finite number >= 0');
  const weightDecay = num(o.weightDecay ?? 0, 'weightDecay', (x) => x >= 0, 'a finite number >= 0');
  if (o.kind === 'sgd') {
    const momentum = num(o.momentum ?? 0, 'momentum', (x) => x >= 0 && x < 1, 'in [0, 1)');
    return { kind: 'sgd', lr, beta1: 0, beta2: 0, eps: 0, weightDecay, momentum };
  }
  return {
    kind: o.kind,
    lr,
    beta1: num(o.beta1 ?? 0.9, 'beta1', (x) => x >= 0 && x < 1, 'in [0, 1)'),
    beta2: num(o.beta2 ?? 0.999, 'beta2', (x) => x >= 0 && x < 1, 'in [0, 1)'),
    eps: num(o.eps ?? 1e-8, 'eps', (x) => x > 0, 'a finite number > 0'),
    weightDecay,
    momentum: 0,
  };
}
