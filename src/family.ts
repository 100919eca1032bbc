/**
 * The model-family switch: a family name and its options (as the CLI's flags and the demo's form
 * give them, and as checkpoints record them) to a model config, and back from a config to the
 * options that rebuild it. One place for ple / cgc / mmoe / shared-bottom / single-task.
 */
import { cgc, ConfigError, mmoe, ple, sharedBottom, singleTask, type EmbeddingConfig, type ModelConfig, type ResolvedModelConfig, type TaskConfig } from './config.js';
import { mapChunks, type Dataset, type Split, type StreamDataset, type StreamSplit } from './data/dataset.js';

/** The model families by their command-line and checkpoint names. */
export const MODEL_FAMILIES = ['ple', 'cgc', 'mmoe', 'shared-bottom', 'single-task'] as const;
/** One of {@link MODEL_FAMILIES}. */
export type ModelFamily = (typeof MODEL_FAMILIES)[number];

/** Display names, e.g. for run labels. */
export const FAMILY_NAMES: Record<ModelFamily, string> = { ple: 'PLE', cgc: 'CGC', mmoe: 'MMoE', 'shared-bottom': 'Shared-bottom', 'single-task': 'Single-task' };

/** "ple, cgc, mmoe, shared-bottom or single-task", for messages. */
export const FAMILY_CHOICES = `${MODEL_FAMILIES.slice(0, -1).join(', ')} or ${MODEL_FAMILIES[MODEL_FAMILIES.length - 1]}`;

/** True when `x` is the name of a model family (a string of {@link MODEL_FAMILIES}). */
export function isModelFamily(x: unknown): x is ModelFamily {
  return typeof x === 'string' && (MODEL_FAMILIES as readonly string[]).includes(x);
}

/** A family and the options it reads; plain JSON (checkpoints store it as `training.model`). */
export interface FamilyOptions {
  family: ModelFamily;
  /** ple: extraction levels. */
  levels?: number;
  /** ple, cgc: task-specific experts per task and level. */
  taskExperts?: number;
  /** ple, cgc: shared experts per level. */
  sharedExperts?: number;
  /** mmoe: experts. */
  experts?: number;
  /** Each expert's layer widths; the bottom's for shared-bottom and single-task. */
  expertWidths: number[];
  towerWidths: number[];
  /** single-task: the task it trains (default: the first). */
  task?: string;
  gateBias?: boolean;
  uncertaintyWeighting?: boolean;
}

/** What the data decides about a model: inputs, embedding tables and tasks (with their loss weights). */
export interface ModelInputs {
  inputDim: number;
  embeddings?: EmbeddingConfig[];
  tasks: TaskConfig[];
}

/** The model config of a family on some data; a missing option is a ConfigError naming it. */
export function familyConfig(o: FamilyOptions, data: ModelInputs): ModelConfig {
  const need = (key: 'levels' | 'taskExperts' | 'sharedExperts' | 'experts'): number => {
    const v = o[key];
    if (v === undefined) throw new ConfigError(key, `${FAMILY_NAMES[o.family]} needs ${key}`);
    return v;
  };
  const common = {
    inputDim: data.inputDim,
    embeddings: data.embeddings,
    tasks: data.tasks,
    towerWidths: o.towerWidths,
    gateBias: o.gateBias,
    uncertaintyWeighting: o.uncertaintyWeighting,
  };
  switch (o.family) {
    case 'ple':
      return ple({ ...common, levels: need('levels'), taskExperts: need('taskExperts'), sharedExperts: need('sharedExperts'), expertWidths: o.expertWidths });
    case 'cgc':
      return cgc({ ...common, taskExperts: need('taskExperts'), sharedExperts: need('sharedExperts'), expertWidths: o.expertWidths });
    case 'mmoe':
      return mmoe({ ...common, experts: need('experts'), expertWidths: o.expertWidths });
    case 'shared-bottom':
      return sharedBottom({ ...common, bottomWidths: o.expertWidths });
    case 'single-task': {
      const task = o.task === undefined ? data.tasks[0] : data.tasks.find((t) => t.name === o.task);
      if (!task) throw new ConfigError('task', `"${o.task}" is not a task of the data (${data.tasks.map((t) => t.name).join(', ')})`);
      return singleTask({ ...common, task, bottomWidths: o.expertWidths });
    }
    default:
      throw new ConfigError('family', `must be ${FAMILY_CHOICES}, got ${JSON.stringify((o as { family: unknown }).family)}`);
  }
}

/**
 * Options that rebuild a config (e.g. a checkpoint's), in the family `hint` names when it fits the
 * config, else the simplest family that does. Per-task expert counts that differ read as their
 * first; the result's config is then not the same, which `loadCheckpoint` reports.
 */
export function familyOptionsOf(config: ResolvedModelConfig, hint?: string): FamilyOptions {
  const first = config.levels[0];
  const common = { expertWidths: first.expertWidths, towerWidths: config.towerWidths, gateBias: config.gateBias, uncertaintyWeighting: config.uncertaintyWeighting };
  const taskExperts = first.taskExperts[0] ?? 0;
  const oneLevel = config.levels.length === 1;
  const noTaskExperts = first.taskExperts.every((m) => m === 0);
  const fits: Record<ModelFamily, boolean> = {
    ple: true,
    cgc: oneLevel,
    mmoe: oneLevel && noTaskExperts,
    'shared-bottom': oneLevel && noTaskExperts && first.sharedExperts === 1,
    'single-task': oneLevel && noTaskExperts && first.sharedExperts === 1 && config.tasks.length === 1,
  };
  const family: ModelFamily = isModelFamily(hint) && fits[hint] ? hint : oneLevel ? (fits.mmoe ? 'mmoe' : 'cgc') : 'ple';
  switch (family) {
    case 'ple':
      return { family, levels: config.levels.length, taskExperts, sharedExperts: first.sharedExperts, ...common };
    case 'cgc':
      return { family, taskExperts, sharedExperts: first.sharedExperts, ...common };
    case 'mmoe':
      return { family, experts: first.sharedExperts, ...common };
    case 'single-task':
      return { family, task: config.tasks[0].name, ...common };
    default:
      return { family, ...common };
  }
}

/** The data a config trains on: a single-task model sees only its task's labels. */
export function datasetForConfig<D extends Dataset | StreamDataset>(dataset: D, config: ModelConfig): D {
  const names = config.tasks.map((t) => t.name);
  if (names.join('\0') === dataset.tasks.map((t) => t.name).join('\0')) return dataset;
  const K = dataset.tasks.length;
  const keep = names.map((n) => {
    const k = dataset.tasks.findIndex((t) => t.name === n);
    if (k < 0) throw new ConfigError('tasks', `task "${n}" is not a task of ${dataset.name}`);
    return k;
  });
  const pick = <S extends Split | StreamSplit>(split: S): S =>
    mapChunks(split, (s) => {
      const take = (a: Float32Array) => Float32Array.from({ length: s.rows * keep.length }, (_, i) => a[Math.floor(i / keep.length) * K + keep[i % keep.length]]);
      return { ...s, labels: take(s.labels), mask: take(s.mask) };
    });
  return {
    ...dataset,
    tasks: keep.map((k) => dataset.tasks[k]),
    train: pick(dataset.train),
    validation: dataset.validation && pick(dataset.validation),
    test: dataset.test && pick(dataset.test),
  };
}
