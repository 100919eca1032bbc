/**
 * Tabular preprocessing: a user-written schema names the label, numeric and
 * categorical columns; fitTabular learns statistics and vocabularies from the
 * training rows, and the resulting encoder turns any parsed CSV with those
 * columns into model inputs, labels and label masks.
 */
import { Rng } from '../rng.js';
import { DataError, type ParsedCsv } from './csv.js';
import { csvChunk, parsedCsvSource, type RowChunk, type RowSource } from './rows.js';
import { hashedRow } from './hash.js';

/** A label column of a {@link TabularSchema}: a binary task (a positive set or a threshold) or a regression task; `task` names it (default: the column). */
export type LabelRole = (
  /** Label 1 when the trimmed value is in the positive set, else 0. */
  | { column: string; task?: string; type: 'binary'; positive: string | string[] }
  /** Label 1 when the value is a number above the threshold, else 0. */
  | { column: string; task?: string; type: 'binary'; threshold: number }
  | { column: string; task?: string; type: 'regression' }
) & {
  /**
   * A missing label normally masks the row out of the task (PLE's sample space);
   * with missingAs it counts as this value instead (e.g. 0: non-clicks as negatives).
   */
  missingAs?: number;
};

/** The roles of a data file's columns: which are labels (tasks), numeric inputs and categorical inputs. */
export interface TabularSchema {
  /** Each becomes a task; label columns are never inputs. */
  labels: LabelRole[];
  numeric?: { column: string; log1p?: boolean }[];
  /**
   * hashBuckets: an embedding table of that many rows, a value's row its stable hash
   * (src/data/hash.ts; row 0 for missing values), no vocabulary kept.
   */
  categorical?: { column: string; encoding?: 'onehot' | 'embedding'; embeddingDim?: number; hashBuckets?: number }[];
  /** Tokens meaning missing (compared after trimming); default ['?', '', 'NA']. Columns not named anywhere are ignored. */
  missing?: string[];
  /** Vocabulary values seen fewer times in the training rows share the unknown slot (default 1). */
  minCount?: number;
  /** Keep at most this many most frequent values per vocabulary (default: all). */
  maxVocab?: number;
}

/** Rows encoded by a {@link TabularEncoder}: model inputs, labels and label masks, row-major. */
export interface TabularData {
  rows: number;
  /** rows x denseDim, row-major: standardised numerics, then missing indicators, then one-hot blocks. */
  dense: Float32Array;
  denseDim: number;
  /** One name per dense column, e.g. 'age', 'age:missing', 'workclass=<unknown>', 'workclass=Private'. */
  denseNames: string[];
  /** rows x embedding columns, row-major: table row (0 = unknown or missing). */
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
  tasks: { name: string; column: string; type: 'binary' | 'regression'; positive?: string[]; threshold?: number; missingAs?: number }[];
  /** mean and std are of the (log1p'd if asked) training values; hasMissing adds a 'column:missing' input. */
  numeric: { column: string; log1p: boolean; mean: number; std: number; hasMissing: boolean }[];
  /**
   * vocabulary excludes the unknown slot (index 0), so value vocabulary[i] has index i + 1.
   * A hashed column (hashBuckets set) has an empty vocabulary and hashBuckets table rows.
   */
  categorical: { column: string; encoding: 'onehot' | 'embedding'; vocabulary: string[]; dim: number; hashBuckets?: number }[];
}

type TaskState = TabularEncoderJSON['tasks'][number];

const DEFAULT_MISSING = ['?', '', 'NA'];
const F32_MAX = 3.4028234663852886e38;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Turns raw rows into model inputs: numerics standardised (optionally log1p first) with a missing
 * indicator, categoricals one-hot or as embedding indices, labels with a mask. Saved and restored
 * as plain JSON (checkpoints store it).
 */
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
      .map((c) => ({ column: c.column, vocabulary: c.hashBuckets ?? c.vocabulary.length + 1, dim: c.dim }));
    this.tasks = state.tasks.map((t) => ({ name: t.name, type: t.type }));
  }

  /** Width of an encoded dense row (the model's inputDim). */
  get denseDim(): number {
    return this.denseNames.length;
  }

  /**
   * An encoder from what {@link TabularEncoder.toJSON} returned (e.g. a checkpoint's `data`).
   * @throws Error when `json` is not a tabular encoder of a known version.
   */
  static fromJSON(json: unknown): TabularEncoder {
    const s = json as TabularEncoderJSON;
    if (!s || s.version !== 1 || !Array.isArray(s.tasks) || !Array.isArray(s.numeric) || !Array.isArray(s.categorical) || !Array.isArray(s.missing)) {
      throw new Error('TabularEncoder.fromJSON: not a version 1 tabular encoder');
    }
    return new TabularEncoder(structuredClone(s));
  }

  /** Everything the encoder learned, as plain JSON (a copy). */
  toJSON(): TabularEncoderJSON {
    return structuredClone(this.state);
  }

  /** The columns a file must have for this encoder. */
  get columns(): string[] {
    const { state } = this;
    return [...new Set([...state.numeric.map((n) => n.column), ...state.categorical.map((c) => c.column), ...state.tasks.map((t) => t.column)])];
  }

  /** Encodes every row of parsed; its columns are found by name, so their order may differ from the training file. */
  transform(parsed: ParsedCsv, source = parsed.source ?? 'input'): TabularData {
    return this.transformChunk(csvChunk(parsed), source);
  }

  /** Encodes the rows of one chunk of a row source. */
  transformChunk(chunk: RowChunk, source: string): TabularData {
    const { state } = this;
    const missing = new Set(state.missing);
    const col = (name: string, role: string) => columnOf(chunk, name, role, source);
    const numericCells = state.numeric.map((n) => col(n.column, 'numeric'));
    const categoricalCells = state.categorical.map((c) => col(c.column, 'categorical'));
    const taskCells = state.tasks.map((t) => col(t.column, `label of task "${t.name}"`));
    const vocabularies = state.categorical.map((c) => new Map(c.vocabulary.map((v, i) => [v, i + 1])));

    const rows = chunk.rows;
    const denseDim = this.denseDim;
    const K = state.tasks.length;
    const E = this.embeddings.length;
    const dense = new Float32Array(rows * denseDim);
    const categorical = new Int32Array(rows * E);
    const labels = new Float32Array(rows * K);
    const mask = new Float32Array(rows * K);
    const indicators: number[] = [];

    for (let r = 0; r < rows; r++) {
      const at = () => chunk.where(r);
      let d = r * denseDim;
      indicators.length = 0;
      state.numeric.forEach((n, j) => {
        const v = numericValue(numericCells[j][r], n, missing, source, at);
        // A missing value takes the training mean, i.e. 0 once standardised.
        const z = v === undefined ? 0 : (v - n.mean) / n.std;
        dense[d++] = Math.max(-F32_MAX, Math.min(F32_MAX, z)); // stay finite in float32
        if (n.hasMissing) indicators.push(v === undefined ? 1 : 0);
      });
      for (const x of indicators) dense[d++] = x;
      let e = r * E;
      state.categorical.forEach((c, j) => {
        const text = cellText(categoricalCells[j][r], c.column, source, at);
        const absent = text === undefined || missing.has(text);
        // Unseen, rare or missing values take row 0.
        const index = absent ? 0 : c.hashBuckets ? hashedRow(text, c.hashBuckets) : (vocabularies[j].get(text) ?? 0);
        if (c.encoding === 'embedding') {
          categorical[e++] = index;
        } else {
          dense[d + index] = 1;
          d += c.vocabulary.length + 1;
        }
      });
      state.tasks.forEach((t, k) => {
        const y = labelValue(taskCells[k][r], t, missing, source, at);
        labels[r * K + k] = y;
        mask[r * K + k] = Number.isNaN(y) ? 0 : 1;
      });
    }
    return { rows, dense, denseDim, denseNames: [...this.denseNames], categorical, embeddings: this.embeddings.map((x) => ({ ...x })), labels, mask, tasks: this.tasks.map((t) => ({ ...t })) };
  }
}

/** Validates the schema against the header and learns statistics and vocabularies from parsed (the training rows). */
export function fitTabular(parsed: ParsedCsv, schema: TabularSchema): TabularEncoder {
  const fitter = new TabularFitter(schema, parsedCsvSource(parsed));
  fitter.add(csvChunk(parsed));
  return fitter.finish();
}

/**
 * Learns an encoder in one streaming pass: `add` each chunk of training rows,
 * then `finish`. Keeps running moments per numeric column and value counts per
 * vocabulary column; hashed columns keep nothing.
 */
export class TabularFitter {
  /** Training rows seen so far. */
  rows = 0;
  private readonly source: string;
  private readonly missing: Set<string>;
  private readonly tasks: TaskState[];
  private readonly labelSeen: { any: boolean; positive: boolean; values: Set<string> }[];
  private readonly moments: { n: number; mean: number; m2: number; scale: number; hasMissing: boolean }[];
  private readonly counts: (Map<string, number> | undefined)[];

  constructor(
    private readonly schema: TabularSchema,
    file: Pick<RowSource, 'name' | 'columns'>,
  ) {
    this.source = file.name;
    this.missing = new Set((schema.missing ?? DEFAULT_MISSING).map((m) => m.trim()));
    validateSchema(file, schema);
    this.tasks = schema.labels.map((role) => {
      const task: TaskState = { name: role.task ?? role.column, column: role.column, type: role.type };
      if ('positive' in role) task.positive = (Array.isArray(role.positive) ? role.positive : [role.positive]).map((p) => p.trim());
      if ('threshold' in role) task.threshold = role.threshold;
      if (role.missingAs !== undefined) task.missingAs = role.missingAs;
      return task;
    });
    this.labelSeen = this.tasks.map(() => ({ any: false, positive: false, values: new Set() }));
    this.moments = (schema.numeric ?? []).map(() => ({ n: 0, mean: 0, m2: 0, scale: 0, hasMissing: false }));
    this.counts = (schema.categorical ?? []).map((c) => (c.hashBuckets ? undefined : new Map()));
  }

  add(chunk: RowChunk): void {
    const { source, missing } = this;
    this.rows += chunk.rows;
    this.tasks.forEach((task, k) => {
      const cells = columnOf(chunk, task.column, `label of task "${task.name}"`, source);
      const seen = this.labelSeen[k];
      for (let r = 0; r < chunk.rows; r++) {
        const y = labelValue(cells[r], task, missing, source, () => chunk.where(r));
        if (Number.isNaN(y)) continue;
        seen.any = true;
        if (y === 1) seen.positive = true;
        if (task.positive && seen.values.size < 10) seen.values.add(cellText(cells[r], task.column, source, () => chunk.where(r))!);
      }
    });
    (this.schema.numeric ?? []).forEach(({ column, log1p = false }, j) => {
      const cells = columnOf(chunk, column, 'numeric', source);
      const m = this.moments[j];
      for (let r = 0; r < chunk.rows; r++) {
        const v = numericValue(cells[r], { column, log1p }, missing, source, () => chunk.where(r));
        if (v === undefined) m.hasMissing = true;
        else addMoment(m, v);
      }
    });
    (this.schema.categorical ?? []).forEach(({ column }, j) => {
      const counts = this.counts[j];
      if (!counts) return;
      const cells = columnOf(chunk, column, 'categorical', source);
      for (let r = 0; r < chunk.rows; r++) {
        const text = cellText(cells[r], column, source, () => chunk.where(r));
        if (text !== undefined && !missing.has(text)) counts.set(text, (counts.get(text) ?? 0) + 1);
      }
    });
  }

  finish(): TabularEncoder {
    const { source, schema } = this;
    if (this.rows === 0) throw new DataError(source, undefined, 'has no data rows to fit on');
    this.tasks.forEach((task, k) => {
      const seen = this.labelSeen[k];
      if (!seen.any && task.missingAs === undefined) {
        throw new DataError(source, undefined, `has no training labels for task "${task.name}": every value of column "${task.column}" is missing`, task.column);
      }
      if (task.positive && !seen.positive) {
        throw new DataError(source, undefined, `has no positive training label for task "${task.name}": no value of column "${task.column}" is in ${JSON.stringify(task.positive)}; values seen: ${[...seen.values].join(', ')}`, task.column);
      }
    });
    const numeric = (schema.numeric ?? []).map(({ column, log1p = false }, j) => {
      const m = this.moments[j];
      if (m.n === 0) throw new DataError(source, undefined, `has no numeric value in column "${column}" in the training rows`, column);
      return { column, log1p, mean: m.mean, std: m.scale === 0 || m.m2 === 0 ? 1 : m.scale * Math.sqrt(m.m2 / m.n), hasMissing: m.hasMissing };
    });
    const minCount = schema.minCount ?? 1;
    const categorical = (schema.categorical ?? []).map(({ column, encoding = 'onehot', embeddingDim, hashBuckets }, j) => {
      if (hashBuckets) return { column, encoding: 'embedding' as const, vocabulary: [], dim: embeddingDim ?? defaultDim(hashBuckets), hashBuckets };
      const counts = this.counts[j]!;
      // Most frequent first, ties by name, so the order is stable across runs; rare values share row 0.
      const vocabulary = [...counts.keys()]
        .filter((v) => counts.get(v)! >= minCount)
        .sort((a, b) => counts.get(b)! - counts.get(a)! || (a < b ? -1 : a > b ? 1 : 0))
        .slice(0, schema.maxVocab ?? Infinity);
      return { column, encoding, vocabulary, dim: embeddingDim ?? defaultDim(vocabulary.length + 1) };
    });
    return TabularEncoder.fromJSON({ version: 1, missing: [...this.missing], tasks: this.tasks, numeric, categorical });
  }
}

/** The default embedding width of a table of `rows` rows. */
function defaultDim(rows: number): number {
  return Math.min(16, Math.ceil(1.6 * rows ** 0.56));
}

/**
 * Running mean and sum of squared deviations (Welford), the latter kept in units of
 * the largest magnitude seen so far so that huge values do not overflow when squared.
 */
function addMoment(m: { n: number; mean: number; m2: number; scale: number }, v: number): void {
  const a = Math.abs(v);
  if (a > m.scale) {
    if (m.scale > 0) m.m2 *= (m.scale / a) ** 2;
    m.scale = a;
  }
  m.n++;
  const d = v - m.mean;
  m.mean += d / m.n;
  if (m.scale > 0) m.m2 += (d / m.scale) * ((v - m.mean) / m.scale);
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

function validateSchema(file: Pick<RowSource, 'name' | 'columns'>, schema: TabularSchema): void {
  const source = file.name;
  if (!schema.labels || schema.labels.length === 0) throw new DataError(source, undefined, 'schema has no labels: give at least one in schema.labels');
  const kinds = new Map(file.columns.map((c) => [c.name, c.kind]));
  const roles = new Map<string, string>();
  const claim = (name: string, role: string, needsNumber: boolean) => {
    const kind = kinds.get(name);
    if (kind === undefined) throw new DataError(source, undefined, `has no column "${name}" (${role}); its columns are: ${file.columns.map((c) => c.name).join(', ')}`, name);
    if (kind === 'nested') throw new DataError(source, undefined, `column "${name}" (${role}) holds lists or structs; it needs one scalar value per row`, name);
    if (needsNumber && (kind === 'boolean' || kind === 'other')) throw new DataError(source, undefined, `column "${name}" (${role}) is of a ${kind} type; it needs numbers`, name);
    const previous = roles.get(name);
    // Several tasks may read one label column; any other reuse is a mistake.
    if (previous !== undefined && !(previous.startsWith('labels') && role.startsWith('labels'))) {
      throw new DataError(source, undefined, `schema names column "${name}" twice: as ${previous} and as ${role}`, name);
    }
    roles.set(name, role);
  };
  const taskNames = new Set<string>();
  schema.labels.forEach((role, i) => {
    claim(role.column, `labels[${i}]`, !('positive' in role));
    const name = role.task ?? role.column;
    if (taskNames.has(name)) throw new DataError(source, undefined, `schema has two tasks named "${name}"; set task on one of them`);
    taskNames.add(name);
    // The types rule this out, but schemas often come from JSON.
    if (role.type === 'binary' && !('positive' in role) && !('threshold' in role)) {
      const column = (role as LabelRole).column;
      throw new DataError(source, undefined, `schema labels[${i}] (column "${column}") is binary but has neither positive nor threshold`, column);
    }
  });
  (schema.numeric ?? []).forEach((n, i) => claim(n.column, `numeric[${i}]`, true));
  (schema.categorical ?? []).forEach((c, i) => {
    claim(c.column, `categorical[${i}]`, false);
    if (c.embeddingDim !== undefined && !(Number.isInteger(c.embeddingDim) && c.embeddingDim > 0)) {
      throw new DataError(source, undefined, `schema categorical[${i}] (column "${c.column}") has embeddingDim ${c.embeddingDim}; it must be a positive integer`, c.column);
    }
    if (c.hashBuckets !== undefined && !(Number.isInteger(c.hashBuckets) && c.hashBuckets >= 2)) {
      throw new DataError(source, undefined, `schema categorical[${i}] (column "${c.column}") has hashBuckets ${c.hashBuckets}; it must be an integer >= 2`, c.column);
    }
  });
  if ((schema.numeric ?? []).length + (schema.categorical ?? []).length === 0) {
    throw new DataError(source, undefined, 'schema has no input columns: name at least one in schema.numeric or schema.categorical');
  }
}

function columnOf(chunk: RowChunk, name: string, role: string, source: string): ArrayLike<unknown> {
  const cells = chunk.column(name);
  if (!cells) throw new DataError(source, chunk.rows > 0 ? chunk.where(0) : undefined, `has no column "${name}" (${role})`, name);
  return cells;
}

/** A cell as trimmed text (numbers in their shortest decimal form); undefined when null. Nested values are refused. */
function cellText(cell: unknown, column: string, source: string, at: () => number | string): string | undefined {
  if (cell === null || cell === undefined) return undefined;
  if (typeof cell === 'string') return cell.trim();
  if (typeof cell === 'number' || typeof cell === 'bigint' || typeof cell === 'boolean') return String(cell);
  throw new DataError(source, at(), `column "${column}": expected one scalar value, got a ${Array.isArray(cell) || ArrayBuffer.isView(cell) ? 'list' : 'nested value'}`, column);
}

/** A numeric cell, log1p'd if asked; undefined when missing (null, NaN or a missing token). */
function numericValue(cell: unknown, n: { column: string; log1p: boolean }, missing: Set<string>, source: string, at: () => number | string): number | undefined {
  const v = numberOf(cell, n.column, missing, source, at);
  if (v === undefined || !n.log1p) return v;
  if (v <= -1) throw new DataError(source, at(), `column "${n.column}": log1p needs a value above -1, got ${v}`, n.column);
  return Math.log1p(v);
}

/** A label cell as 0/1 or a number; NaN when missing (or missingAs when the task sets it). */
function labelValue(cell: unknown, task: TaskState, missing: Set<string>, source: string, at: () => number | string): number {
  if (task.positive) {
    const text = cellText(cell, task.column, source, at);
    if (text === undefined || missing.has(text)) return task.missingAs ?? NaN;
    return task.positive.includes(text) ? 1 : 0;
  }
  const v = numberOf(cell, task.column, missing, source, at);
  if (v === undefined) return task.missingAs ?? NaN;
  return task.threshold === undefined ? v : v > task.threshold ? 1 : 0;
}

function numberOf(cell: unknown, column: string, missing: Set<string>, source: string, at: () => number | string): number | undefined {
  if (cell === null || cell === undefined) return undefined;
  if (typeof cell === 'number') {
    if (Number.isNaN(cell)) return undefined;
    if (!Number.isFinite(cell)) throw new DataError(source, at(), `column "${column}": expected a finite number, got ${cell}`, column);
    return cell;
  }
  if (typeof cell === 'bigint') return Number(cell);
  if (typeof cell !== 'string') {
    const text = cellText(cell, column, source, at); // refuses nested values
    throw new DataError(source, at(), `column "${column}": expected a number, got ${typeof cell} ${text}`, column);
  }
  const value = cell.trim();
  if (missing.has(value)) return undefined;
  const v = Number(value);
  if (!NUMBER.test(value) || !Number.isFinite(v)) throw new DataError(source, at(), `column "${column}": expected a number, got "${value}"`, column);
  return v;
}
