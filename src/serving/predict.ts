/**
 * Batch prediction: scores encoded rows chunk by chunk with a trainer and turns them into
 * prediction rows (one column per task, optionally every gate's weights and copied-through
 * columns), keeping what per-task metrics need when the rows have labels. `CsvEncoding` binds a
 * checkpoint's tabular encoder to a file's header. Browser-safe: the CLI and the page share it.
 */
import type { Trainer } from '../trainer.js';
import type { ResolvedModelConfig } from '../config.js';
import { DataError, type ParsedCsv } from '../data/csv.js';
import { TabularEncoder, type TabularEncoderJSON } from '../data/tabular.js';
import { taskMetrics, type TaskMetrics } from '../metrics.js';
import { predictionsInTargetUnits, type TargetScaling } from '../data/targets.js';

/** Encoded rows of one chunk: what the model reads, and the labels and copied columns when there are some. */
export interface EncodedChunk {
  rows: number;
  /** rows x inputDim. */
  x: Float32Array;
  /** rows x embedding tables. */
  categorical?: Int32Array;
  /** rows x model tasks (NaN where missing) and its mask; absent when the rows carry no label. */
  labels?: Float32Array;
  mask?: Float32Array;
  /** rows x kept columns: values copied to the output as they are. */
  keep?: string[][];
}

/** What a Predictor writes beside one column per task. */
export interface PredictOptions {
  /** Add each gate's weight for each of its experts (gates over one expert, the identity, are left out). */
  gates?: boolean;
  /** Names of the copied-through columns, written first. */
  keep?: string[];
  /** The checkpoint's regression target scaling: predictions go back to the targets' units. */
  targets?: TargetScaling;
}

/** The output column of gate `gate` of level `level` for expert `expert` (numbered across the level, as in spec.ts). */
export const gateColumn = (level: number, gate: string, expert: number) => `level${level}.${gate}.gate.expert${expert}`;

/**
 * Scores encoded chunks with a trainer and gathers them as CSV rows (kept columns, one column per
 * task: a probability for binary tasks, a value in the target's units for regression, then the
 * gate weights), plus the labels it saw, for per-task metrics at the end.
 */
export class Predictor {
  /** The output header: kept columns, one per task, then the gate columns. */
  readonly columns: string[];
  private readonly scores: number[][];
  private readonly labels: number[][];
  private readonly mask: number[][];
  private labelled = false;

  constructor(
    readonly trainer: Trainer,
    readonly options: PredictOptions = {},
  ) {
    const spec = trainer.spec;
    const gates = options.gates ? spec.levels.flatMap((l) => l.gates.filter((g) => g.hasParams).flatMap((g) => g.members.map((e) => gateColumn(l.index, g.name, e)))) : [];
    this.columns = [...(options.keep ?? []), ...spec.config.tasks.map((t) => t.name), ...gates];
    const clash = this.columns.find((c, i) => this.columns.indexOf(c) !== i);
    if (clash !== undefined) throw new DataError('--keep', undefined, `column "${clash}" would appear twice in the predictions (a task or gate column has that name)`, clash);
    this.scores = spec.config.tasks.map(() => []);
    this.labels = spec.config.tasks.map(() => []);
    this.mask = spec.config.tasks.map(() => []);
  }

  /** The prediction rows of one chunk, in the order of `columns`. */
  async score(chunk: EncodedChunk): Promise<(string | number)[][]> {
    const spec = this.trainer.spec;
    const K = spec.numTasks;
    const inferred = await this.trainer.infer(chunk.x, chunk.rows, this.options.gates ?? false, chunk.categorical);
    const gates = inferred.gates;
    const predictions = this.options.targets ? predictionsInTargetUnits(inferred.predictions, spec.config.tasks.map((t) => t.name), this.options.targets) : inferred.predictions;
    if (chunk.labels && chunk.mask) {
      this.labelled = true;
      for (let k = 0; k < K; k++) {
        for (let r = 0; r < chunk.rows; r++) {
          const m = chunk.mask[r * K + k];
          if (m === 0) continue;
          this.scores[k].push(predictions[k][r]);
          this.labels[k].push(chunk.labels[r * K + k]);
          this.mask[k].push(m);
        }
      }
    }
    const out: (string | number)[][] = [];
    for (let r = 0; r < chunk.rows; r++) {
      const row: (string | number)[] = [...(chunk.keep?.[r] ?? [])];
      for (let k = 0; k < K; k++) row.push(predictions[k][r]);
      if (this.options.gates) {
        spec.levels.forEach((level, j) => {
          for (const gate of level.gates) {
            if (!gate.hasParams) continue;
            for (let i = 0; i < gate.members.length; i++) row.push(gates[j][r * level.gateColumns + gate.column + i]);
          }
        });
      }
      out.push(row);
    }
    return out;
  }

  /** Per-task metrics over every labelled row scored so far (tasks without a label are left out); undefined when no row had labels. */
  metrics(): Record<string, TaskMetrics> | undefined {
    if (!this.labelled) return undefined;
    const all: Record<string, TaskMetrics> = {};
    this.trainer.spec.config.tasks.forEach((task, k) => {
      if (this.scores[k].length === 0) return;
      Object.assign(all, taskMetrics([task], [Float32Array.from(this.scores[k])], this.labels[k], this.mask[k]));
    });
    return all;
  }
}

/** A task's metrics in one line: AUC and log loss for binary tasks, MSE for regression. */
export function formatMetrics(m: TaskMetrics): string {
  return m.auc !== undefined ? `AUC ${m.auc.toFixed(4)}, log loss ${m.logLoss!.toFixed(4)}` : `MSE ${m.mse!.toFixed(4)}`;
}

/** The tabular encoder a checkpoint's `data` metadata holds (written by `npm start` on CSV data, or `{ encoder }` beside other fields), if any. */
export function encoderJsonOf(data: unknown): TabularEncoderJSON | undefined {
  const json = (data as { encoder?: unknown } | undefined)?.encoder ?? data;
  return (json as TabularEncoderJSON | undefined)?.version === 1 ? (json as TabularEncoderJSON) : undefined;
}

/** The checkpoint's encoder; a clear error when it has none. */
export function encoderOfCheckpoint(data: unknown, source: string): TabularEncoder {
  const json = encoderJsonOf(data);
  if (!json) {
    throw new DataError(
      source,
      undefined,
      'holds no input encoder, so it cannot encode a CSV file: it was trained on the synthetic benchmark (score it with --data synthetic) or saved without the encoder its training data was fitted with',
    );
  }
  return TabularEncoder.fromJSON(json);
}

/** A checkpoint's encoder bound to one file's header: checks the columns once, then encodes chunks of that file. */
export class CsvEncoding {
  private readonly encoder: TabularEncoder;
  /** For each model task, its index among the tasks whose label column the file has (-1: absent). */
  private readonly taskIndex: number[];
  private readonly keepIndex: number[];

  constructor(encoder: TabularEncoder, config: ResolvedModelConfig, header: string[], source: string, keep: string[] = []) {
    const json = encoder.toJSON();
    const dense = encoder.denseDim;
    if (dense !== config.inputDim) throw new DataError(source, undefined, `cannot be scored: the checkpoint's encoder makes ${dense} dense inputs but its model reads ${config.inputDim}`);
    const tables = (e: { name?: string; column?: string; vocabulary: number; dim: number }[]) => e.map((t) => `${t.name ?? t.column}:${t.vocabulary}x${t.dim}`).join(', ');
    if (tables(encoder.embeddings) !== tables(config.embeddings)) {
      throw new DataError(source, undefined, `cannot be scored: the checkpoint's encoder has embedding tables [${tables(encoder.embeddings)}], its model [${tables(config.embeddings)}]`);
    }
    const need = (column: string, role: string) => {
      if (!header.includes(column)) throw new DataError(source, undefined, `has no column "${column}", ${role}; its columns are: ${header.join(', ')}`, column);
    };
    for (const n of json.numeric) need(n.column, 'a numeric input of the model');
    for (const c of json.categorical) need(c.column, 'a categorical input of the model');
    for (const k of keep) need(k, 'named by --keep');
    // Labels are optional: encode the tasks of the model whose label column the file has.
    const present = json.tasks.filter((t) => header.includes(t.column) && config.tasks.some((m) => m.name === t.name));
    this.encoder = TabularEncoder.fromJSON({ ...json, tasks: present });
    this.taskIndex = config.tasks.map((m) => present.findIndex((t) => t.name === m.name));
    this.keepIndex = keep.map((k) => header.indexOf(k));
  }

  /** Whether the file has a label column of at least one task. */
  get hasLabels(): boolean {
    return this.taskIndex.some((i) => i >= 0);
  }

  /**
   * Encodes one parsed chunk of the file with the checkpoint's encoder.
   * @throws DataError naming the file, line and column of a cell the encoder cannot read.
   */
  encode(chunk: ParsedCsv): EncodedChunk {
    const d = this.encoder.transform(chunk);
    const K = this.taskIndex.length;
    const P = d.tasks.length;
    let labels: Float32Array | undefined;
    let mask: Float32Array | undefined;
    if (this.hasLabels) {
      labels = new Float32Array(d.rows * K).fill(NaN);
      mask = new Float32Array(d.rows * K);
      for (let r = 0; r < d.rows; r++) {
        this.taskIndex.forEach((i, k) => {
          if (i < 0) return;
          labels![r * K + k] = d.labels[r * P + i];
          mask![r * K + k] = d.mask[r * P + i];
        });
      }
    }
    return {
      rows: d.rows,
      x: d.dense,
      categorical: d.embeddings.length > 0 ? d.categorical : undefined,
      labels,
      mask,
      keep: this.keepIndex.length ? chunk.rows.map((row) => this.keepIndex.map((i) => row[i])) : undefined,
    };
  }
}
