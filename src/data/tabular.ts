/**
 * Tabular preprocessing: a user-written schema names the label, numeric and
 * categorical columns; fitTabular learns statistics and vocabularies from the
 * training rows, and the resulting encoder turns any parsed CSV with those
 * columns into model inputs, labels and label masks.
 */
import { Rng } from '../rng.js';
import { DataError, type ParsedCsv } from './csv.js';

export type LabelRole =
  /** Label 1 when the trimmed value is in the positive set, else 0. */
  | { column: string; task?: string; type: 'binary'; positive: string | string[] }
  /** Label 1 when the value is a number above the threshold, else 0. */
  | { column: string; task?: string; type: 'binary'; threshold: number }
  | { column: string; task?: string; type: 'regression' };

export interface TabularSchema {
  /** Each becomes a task; label columns are never inputs. */
  labels: LabelRole[];
  numeric?: { column: string; log1p?: boolean }[];
  categorical?: { column: string; encoding?: 'onehot' | 'embedding'; embeddingDim?: number }[];
  /** Tokens meaning missing (compared after trimming); default ['?', '', 'NA']. Columns not named anywhere are ignored. */
  missing?: string[];
}

export interface TabularData {
  rows: number;
  /** rows x denseDim, row-major: standardised numerics, then missing indicators, then one-hot blocks. */
  dense: Float32Array;
  denseDim: number;
  /** One name per dense column, e.g. 'age', 'age:missing', 'workclass=<unknown>', 'workclass=Private'. */
  denseNames: string[];
  /** rows x embedding columns, row-major: vocabulary index (0 = unknown or missing). */
  categorical: Int32Array;
  /** Per embedding column; vocabulary counts the unknown row. */
  embeddings: { column: string; vocabulary: number; dim: number }[];
  /** rows x tasks, row-major; NaN where missing. */
  labels: Float32Array;
  /** rows x tasks, row-major; 0 where the label is missing. */
  mask: Float32Array;
  tasks: { name: string; type: 'binary' | 'regression' }[];
}

/** Everything the encoder learned, as plain JSON (stored in checkpoints). */
export interface TabularEncoderJSON {
  version: 1;
  missing: string[];
  tasks: { name: string; column: string; type: 'binary' | 'regression'; positive?: string[]; threshold?: number }[];
  /** mean and std are of the (log1p'd if asked) training values; hasMissing adds a 'column:missing' input. */
  numeric: { column: string; log1p: boolean; mean: number; std: number; hasMissing: boolean }[];
  /** vocabulary excludes the unknown slot (index 0), so value vocabulary[i] has index i + 1. */
  categorical: { column: string; encoding: 'onehot' | 'embedding'; vocabulary: string[]; dim: number }[];
}

type TaskState = TabularEncoderJSON['tasks'][number];

const DEFAULT_MISSING = ['?', '', 'NA'];
const F32_MAX = 3.4028234663852886e38;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export class TabularEncoder {
  readonly denseNames: string[];
  readonly embeddings: { column: string; vocabulary: number; dim: number }[];
  readonly tasks: { name: string; type: 'binary' | 'regression' }[];

  private constructor(private readonly state: TabularEncoderJSON) {
    const numeric = state.numeric.map((n) => n.column);
    const indicators = state.numeric.filter((n) => n.hasMissing).map((n) => `${n.column}:missing`);
    const onehot = state.categorical
      .filter((c) => c.encoding === 'onehot')
      .flatMap((c) => [`${c.column}=<unknown>`, ...c.vocabulary.map((v) => `${c.column}=${v}`)]);
    this.denseNames = [...numeric, ...indicators, ...onehot];
    this.embeddings = state.categorical
      .filter((c) => c.encoding === 'embedding')
      .map((c) => ({ column: c.column, vocabulary: c.vocabulary.length + 1, dim: c.dim }));
    this.tasks = state.tasks.map((t) => ({ name: t.name, type: t.type }));
  }

  get denseDim(): number {
    return this.denseNames.length;
  }

  static fromJSON(json: unknown): TabularEncoder {
    const s = json as TabularEncoderJSON;
    if (!s || s.version !== 1 || !Array.isArray(s.tasks) || !Array.isArray(s.numeric) || !Array.isArray(s.categorical) || !Array.isArray(s.missing)) {
      throw new Error('TabularEncoder.fromJSON: not a version 1 tabular encoder');
    }
    return new TabularEncoder(structuredClone(s));
  }

  toJSON(): TabularEncoderJSON {
    return structuredClone(this.state);
  }

  /** Encodes every row of parsed; its columns are found by name, so their order may differ from the training file. */
  transform(parsed: ParsedCsv, source = parsed.source ?? 'input'): TabularData {
    const { state } = this;
    const missing = new Set(state.missing);
    const col = (name: string, role: string) => columnIndex(parsed, name, role, source);
    const numericIdx = state.numeric.map((n) => col(n.column, 'numeric'));
    const categoricalIdx = state.categorical.map((c) => col(c.column, 'categorical'));
    const taskIdx = state.tasks.map((t) => col(t.column, `label of task "${t.name}"`));
    const vocabularies = state.categorical.map((c) => new Map(c.vocabulary.map((v, i) => [v, i + 1])));

    const rows = parsed.rows.length;
    const denseDim = this.denseDim;
    const K = state.tasks.length;
    const E = this.embeddings.length;
    const dense = new Float32Array(rows * denseDim);
    const categorical = new Int32Array(rows * E);
    const labels = new Float32Array(rows * K);
    const mask = new Float32Array(rows * K);

    parsed.rows.forEach((row, r) => {
      const line = parsed.lineOf[r];
      let d = r * denseDim;
      const indicators: number[] = [];
      state.numeric.forEach((n, j) => {
        const v = numericValue(row[numericIdx[j]].trim(), n, missing, source, line);
        // A missing value takes the training mean, i.e. 0 once standardised.
        const z = v === undefined ? 0 : (v - n.mean) / n.std;
        dense[d++] = Math.max(-F32_MAX, Math.min(F32_MAX, z)); // stay finite in float32
        if (n.hasMissing) indicators.push(v === undefined ? 1 : 0);
      });
      for (const x of indicators) dense[d++] = x;
      let e = r * E;
      state.categorical.forEach((c, j) => {
        const index = vocabularies[j].get(row[categoricalIdx[j]].trim()) ?? 0; // unseen or missing -> 0
        if (c.encoding === 'embedding') {
          categorical[e++] = index;
        } else {
          dense[d + index] = 1;
          d += c.vocabulary.length + 1;
        }
      });
      state.tasks.forEach((t, k) => {
        const y = labelValue(row[taskIdx[k]].trim(), t, missing, source, line);
        labels[r * K + k] = y;
        mask[r * K + k] = Number.isNaN(y) ? 0 : 1;
      });
    });
    return { rows, dense, denseDim, denseNames: [...this.denseNames], categorical, embeddings: this.embeddings.map((x) => ({ ...x })), labels, mask, tasks: this.tasks.map((t) => ({ ...t })) };
  }
}

/** Validates the schema against the header and learns statistics and vocabularies from parsed (the training rows). */
export function fitTabular(parsed: ParsedCsv, schema: TabularSchema): TabularEncoder {
  const source = parsed.source ?? 'input';
  const missing = schema.missing ?? DEFAULT_MISSING;
  const missingSet = new Set(missing.map((m) => m.trim()));
  const numericRoles = schema.numeric ?? [];
  const categoricalRoles = schema.categorical ?? [];
  validateSchema(parsed, schema, source);
  if (parsed.rows.length === 0) throw new DataError(source, undefined, 'has no data rows to fit on');
  const column = (name: string) => parsed.rows.map((row, r) => ({ value: row[parsed.header.indexOf(name)].trim(), line: parsed.lineOf[r] }));

  const tasks: TaskState[] = schema.labels.map((role) => {
    const name = role.task ?? role.column;
    const task: TaskState = { name, column: role.column, type: role.type };
    if ('positive' in role) task.positive = (Array.isArray(role.positive) ? role.positive : [role.positive]).map((p) => p.trim());
    if ('threshold' in role) task.threshold = role.threshold;
    const ys = column(role.column).map(({ value, line }) => labelValue(value, task, missingSet, source, line));
    if (ys.every((y) => Number.isNaN(y))) {
      throw new DataError(source, undefined, `has no training labels for task "${name}": every value of column "${role.column}" is missing`, role.column);
    }
    if (task.positive && !ys.includes(1)) {
      const seen = [...new Set(column(role.column).map((c) => c.value))].slice(0, 10);
      throw new DataError(source, undefined, `has no positive training label for task "${name}": no value of column "${role.column}" is in ${JSON.stringify(task.positive)}; values seen: ${seen.join(', ')}`, role.column);
    }
    return task;
  });

  const numeric = numericRoles.map(({ column: name, log1p = false }) => {
    const values: number[] = [];
    let hasMissing = false;
    for (const { value, line } of column(name)) {
      const v = numericValue(value, { column: name, log1p }, missingSet, source, line);
      if (v === undefined) hasMissing = true;
      else values.push(v);
    }
    if (values.length === 0) throw new DataError(source, undefined, `has no numeric value in column "${name}" in the training rows`, name);
    return { column: name, log1p, ...meanStd(values), hasMissing };
  });

  const categorical = categoricalRoles.map(({ column: name, encoding = 'onehot', embeddingDim }) => {
    const counts = new Map<string, number>();
    for (const { value } of column(name)) if (!missingSet.has(value)) counts.set(value, (counts.get(value) ?? 0) + 1);
    // Most frequent first, ties by name, so the order is stable across runs.
    const vocabulary = [...counts.keys()].sort((a, b) => counts.get(b)! - counts.get(a)! || (a < b ? -1 : a > b ? 1 : 0));
    const dim = embeddingDim ?? Math.min(16, Math.ceil(1.6 * (vocabulary.length + 1) ** 0.56));
    return { column: name, encoding, vocabulary, dim };
  });

  return TabularEncoder.fromJSON({ version: 1, missing: [...missingSet], tasks, numeric, categorical });
}

/**
 * Shuffles the rows deterministically from seed and cuts them into train,
 * validation and test parts (sizes rounded from the fractions, which must sum
 * to 1). Each part keeps the file's row order and line numbers.
 */
export function splitRows(
  parsed: ParsedCsv,
  fractions: { train: number; validation: number; test: number },
  seed: number,
): { train: ParsedCsv; validation: ParsedCsv; test: ParsedCsv } {
  const { train, validation, test } = fractions;
  if ([train, validation, test].some((f) => !(f >= 0)) || Math.abs(train + validation + test - 1) > 1e-9) {
    throw new RangeError(`split fractions must be non-negative and sum to 1, got train ${train}, validation ${validation}, test ${test}`);
  }
  const n = parsed.rows.length;
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const nTrain = Math.round(n * train);
  const nValidation = Math.min(n - nTrain, Math.round(n * validation));
  const part = (indices: number[]): ParsedCsv => {
    const sorted = [...indices].sort((a, b) => a - b);
    return { header: [...parsed.header], rows: sorted.map((i) => parsed.rows[i]), lineOf: sorted.map((i) => parsed.lineOf[i]), source: parsed.source };
  };
  return {
    train: part(order.slice(0, nTrain)),
    validation: part(order.slice(nTrain, nTrain + nValidation)),
    test: part(order.slice(nTrain + nValidation)),
  };
}

function validateSchema(parsed: ParsedCsv, schema: TabularSchema, source: string): void {
  if (!schema.labels || schema.labels.length === 0) throw new DataError(source, undefined, 'schema has no labels: give at least one in schema.labels');
  const roles = new Map<string, string>();
  const claim = (name: string, role: string) => {
    columnIndex(parsed, name, role, source);
    const previous = roles.get(name);
    // Several tasks may read one label column; any other reuse is a mistake.
    if (previous !== undefined && !(previous.startsWith('labels') && role.startsWith('labels'))) {
      throw new DataError(source, undefined, `schema names column "${name}" twice: as ${previous} and as ${role}`, name);
    }
    roles.set(name, role);
  };
  const taskNames = new Set<string>();
  schema.labels.forEach((role, i) => {
    claim(role.column, `labels[${i}]`);
    const name = role.task ?? role.column;
    if (taskNames.has(name)) throw new DataError(source, undefined, `schema has two tasks named "${name}"; set task on one of them`);
    taskNames.add(name);
    // The types rule this out, but schemas often come from JSON.
    if (role.type === 'binary' && !('positive' in role) && !('threshold' in role)) {
      const column = (role as LabelRole).column;
      throw new DataError(source, undefined, `schema labels[${i}] (column "${column}") is binary but has neither positive nor threshold`, column);
    }
  });
  (schema.numeric ?? []).forEach((n, i) => claim(n.column, `numeric[${i}]`));
  (schema.categorical ?? []).forEach((c, i) => {
    claim(c.column, `categorical[${i}]`);
    if (c.embeddingDim !== undefined && !(Number.isInteger(c.embeddingDim) && c.embeddingDim > 0)) {
      throw new DataError(source, undefined, `schema categorical[${i}] (column "${c.column}") has embeddingDim ${c.embeddingDim}; it must be a positive integer`, c.column);
    }
  });
  if ((schema.numeric ?? []).length + (schema.categorical ?? []).length === 0) {
    throw new DataError(source, undefined, 'schema has no input columns: name at least one in schema.numeric or schema.categorical');
  }
}

function columnIndex(parsed: ParsedCsv, name: string, role: string, source: string): number {
  const i = parsed.header.indexOf(name);
  if (i < 0) throw new DataError(source, undefined, `has no column "${name}" (${role}); its columns are: ${parsed.header.join(', ')}`, name);
  return i;
}

/** A trimmed numeric cell, log1p'd if asked; undefined when missing. */
function numericValue(value: string, n: { column: string; log1p: boolean }, missing: Set<string>, source: string, line: number): number | undefined {
  if (missing.has(value)) return undefined;
  const v = parseNumber(value, n.column, source, line);
  if (!n.log1p) return v;
  if (v <= -1) throw new DataError(source, line, `column "${n.column}": log1p needs a value above -1, got ${value}`, n.column);
  return Math.log1p(v);
}

/** A trimmed label cell as 0/1 or a number; NaN when missing. */
function labelValue(value: string, task: TaskState, missing: Set<string>, source: string, line: number): number {
  if (missing.has(value)) return NaN;
  if (task.positive) return task.positive.includes(value) ? 1 : 0;
  const v = parseNumber(value, task.column, source, line);
  return task.threshold === undefined ? v : v > task.threshold ? 1 : 0;
}

function parseNumber(value: string, column: string, source: string, line: number): number {
  const v = Number(value);
  if (!NUMBER.test(value) || !Number.isFinite(v)) throw new DataError(source, line, `column "${column}": expected a number, got "${value}"`, column);
  return v;
}

/** Mean and population std (std 0 -> 1), scaled so that huge values do not overflow when squared. */
function meanStd(values: number[]): { mean: number; std: number } {
  let mean = 0;
  values.forEach((v, i) => (mean += (v - mean) / (i + 1)));
  let scale = 0;
  for (const v of values) scale = Math.max(scale, Math.abs(v - mean));
  if (scale === 0) return { mean, std: 1 };
  let sum = 0;
  for (const v of values) sum += ((v - mean) / scale) ** 2;
  return { mean, std: scale * Math.sqrt(sum / values.length) };
}
