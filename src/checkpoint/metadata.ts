/**
 * The checkpoint's optional metadata, declared once: `training` (how far a run got and how it
 * was set up, so it can be resumed) and `data` (how its inputs were made, so they can be made
 * again). `npm start` (src/cli/main.ts) and the demo page both write and read these forms;
 * readCheckpoint checks them, so a reader never casts.
 */
import type { EpochReport } from '../training/fit.js';
import type { SyntheticDatasetOptions } from '../data/sources.js';
import type { TabularEncoderJSON, TabularSchema } from '../data/tabular.js';
import type { TargetScaling } from '../data/targets.js';
import type { FamilyOptions } from '../family.js';
import { CheckpointError } from './safetensors.js';

/** Early stopping's state after an epoch; the best parameters travel as `best.<parameter>` tensors. */
export interface EarlyStoppingState {
  metric: string;
  patience: number;
  best?: { epoch: number; metric: string; value: number };
  /** Epochs since the best one. */
  sinceBest: number;
  /** True once the run stopped (and restored the best parameters): there is nothing left to resume. */
  stopped: boolean;
}

/** A command-line flag's value as node:util parseArgs gives it. */
export type FlagValue = string | boolean | string[];

/** The checkpoint's `training` metadata: how far a run got and how it was set up, so it can be resumed. */
export interface TrainingState {
  /** Epochs completed. */
  epoch: number;
  history: EpochReport[];
  /** npm start's settings (every flag but where it writes), restored by --resume. */
  flags?: Record<string, FlagValue>;
  earlyStopping?: EarlyStoppingState;
  /** The model family and its options (src/family.ts). */
  model?: FamilyOptions;
  /** How regression targets were standardised for training (src/data/targets.ts). */
  targets?: TargetScaling;
  /** The demo page's family name, settings, and where a run stopped within an epoch. */
  family?: string;
  options?: { epochs: number; batchSize: number; learningRate: number; seed: number };
  position?: { epoch: number; step: number; stepsPerEpoch: number };
}

/** How a tabular run's rows were read: the file's roles, the split and the fitted encoder. */
export interface TabularDataState {
  /** csv: read into memory; file: a CSV, Parquet or Arrow file streamed; clicklog: the built-in click log streamed. */
  kind: 'csv' | 'file' | 'clicklog';
  /** The training file's name as the run read it. */
  source: string;
  schema: TabularSchema;
  validationFraction: number;
  /** Seed of the train/validation(/test) split of the training file. */
  seed: number;
  /** The encoder fitted on the training rows (vocabularies, statistics, column roles); present when written by npm start. */
  encoder?: TabularEncoderJSON;
}

/**
 * How the inputs were made: the synthetic generator's options, a tabular run's roles, split and
 * fitted encoder, or (kind "encoder") only the encoder, as npm start wrote it before it recorded more.
 */
export type DataState =
  | { kind: 'synthetic'; options: SyntheticDatasetOptions }
  | TabularDataState
  | { kind: 'encoder'; encoder: TabularEncoderJSON };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Checks the `training` metadata's shape; the error names the field. */
export function readTrainingState(json: unknown, source: string): TrainingState {
  const bad = (field: string, rule: string) => new CheckpointError(source, `metadata "training"${field ? `.${field}` : ''} ${rule}`);
  if (!isObject(json)) throw bad('', 'must be an object');
  if (!isCount(json.epoch)) throw bad('epoch', `must be an integer >= 0, got ${JSON.stringify(json.epoch)}`);
  if (!Array.isArray(json.history) || json.history.some((h) => !isObject(h) || !isCount(h.epoch))) throw bad('history', 'must be a list of epoch reports');
  if (json.flags !== undefined && !isObject(json.flags)) throw bad('flags', 'must be an object');
  const es = json.earlyStopping;
  if (es !== undefined && (!isObject(es) || typeof es.metric !== 'string' || !isCount(es.patience) || !isCount(es.sinceBest) || typeof es.stopped !== 'boolean')) {
    throw bad('earlyStopping', 'must hold metric, patience, sinceBest and stopped');
  }
  const o = json.options;
  if (o !== undefined && (!isObject(o) || !['epochs', 'batchSize', 'learningRate', 'seed'].every((k) => typeof o[k] === 'number'))) {
    throw bad('options', 'must hold numbers epochs, batchSize, learningRate and seed');
  }
  return json as unknown as TrainingState;
}

/** Checks the `data` metadata's shape; the error names the field. */
export function readDataState(json: unknown, source: string): DataState {
  const bad = (field: string, rule: string) => new CheckpointError(source, `metadata "data"${field ? `.${field}` : ''} ${rule}`);
  if (!isObject(json)) throw bad('', 'must be an object');
  if (json.kind === 'synthetic') {
    if (!isObject(json.options)) throw bad('options', 'must be the synthetic generator options');
    return json as unknown as DataState;
  }
  // The bare encoder that earlier versions of npm start stored as "data".
  if (json.kind === undefined && json.version === 1 && Array.isArray(json.tasks)) return { kind: 'encoder', encoder: json as unknown as TabularEncoderJSON };
  if (json.kind === 'encoder') {
    if (!isObject(json.encoder) || json.encoder.version !== 1) throw bad('encoder', 'must be a version 1 tabular encoder');
    return json as unknown as DataState;
  }
  if (json.kind !== 'csv' && json.kind !== 'file' && json.kind !== 'clicklog') throw bad('kind', `must be "synthetic", "csv", "file", "clicklog" or "encoder", got ${JSON.stringify(json.kind)}`);
  if (typeof json.source !== 'string') throw bad('source', 'must be a file name');
  if (!isObject(json.schema) || !Array.isArray(json.schema.labels)) throw bad('schema', 'must be a tabular schema');
  if (typeof json.validationFraction !== 'number') throw bad('validationFraction', 'must be a number');
  if (typeof json.seed !== 'number') throw bad('seed', 'must be a number');
  if (json.encoder !== undefined && (!isObject(json.encoder) || json.encoder.version !== 1)) throw bad('encoder', 'must be a version 1 tabular encoder');
  return json as unknown as DataState;
}
