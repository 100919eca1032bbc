/**
 * Building data sets from their sources: the synthetic benchmark (the embedded
 * default, generated in memory, no file) and CSV text with column roles.
 */
import { SyntheticTasks, type SyntheticSplit } from './synthetic.js';
import { parseCsv } from './csv.js';
import { fitTabular, splitRows, type TabularEncoder, type TabularSchema } from './tabular.js';
import type { Dataset, Split } from './dataset.js';

/** Options of {@link syntheticDataset}: the benchmark's shape and the rows of each split. */
export interface SyntheticDatasetOptions {
  inputDim: number;
  correlation: number;
  trainRows: number;
  validationRows: number;
  testRows: number;
  seed: number;
  binary?: boolean;
}

const CHUNK = 1024;

/**
 * The synthetic benchmark ({@link SyntheticTasks}) generated in memory as a data set, every label present.
 * @throws RangeError naming the option that is out of range.
 */
export function syntheticDataset(o: SyntheticDatasetOptions): Dataset {
  const gen = new SyntheticTasks({ inputDim: o.inputDim, correlation: o.correlation, seed: o.seed, binary: o.binary });
  const K = gen.tasks.length;
  const make = (split: SyntheticSplit, rows: number): Split => {
    const x = new Float32Array(rows * o.inputDim);
    const labels = new Float32Array(rows * K);
    for (let start = 0, index = 0; start < rows; start += CHUNK, index++) {
      const b = gen.batch(split, index, Math.min(CHUNK, rows - start));
      x.set(b.x, start * o.inputDim);
      labels.set(b.labels, start * K);
    }
    return { rows, x, labels, mask: new Float32Array(rows * K).fill(1) };
  };
  return {
    name: `synthetic (p=${o.correlation}, d=${o.inputDim}${o.binary ? ', binary' : ''})`,
    tasks: gen.tasks,
    inputDim: o.inputDim,
    train: make('train', o.trainRows),
    validation: o.validationRows > 0 ? make('validation', o.validationRows) : undefined,
    test: o.testRows > 0 ? make('test', o.testRows) : undefined,
  };
}

/** Options of {@link csvDataset}: the column roles and the CSV text of the training (and optionally test) file. */
export interface CsvDatasetOptions {
  schema: TabularSchema;
  train: { text: string; source: string };
  /** When absent, the training file is split into train/validation/test with `seed`. */
  test?: { text: string; source: string };
  /** Share of the training rows held out for validation (default 0.1). */
  validationFraction?: number;
  seed?: number;
  /** An encoder fitted before (a resumed run's, from its checkpoint): used as it is instead of fitting one on the training rows. */
  encoder?: TabularEncoder;
}

/**
 * A data set from CSV text: parses it, splits it (validation and, without a test file, test rows
 * held out at random from `seed`), learns the encoder from the training rows and encodes every split.
 * Returns the encoder too, to store in a checkpoint (`toJSON`) and encode new rows alike.
 * @throws DataError naming the file, line and column of a malformed row, an unknown column or a
 *   non-numeric value in a numeric column.
 */
export function csvDataset(o: CsvDatasetOptions): { dataset: Dataset; encoder: TabularEncoder } {
  const parsed = parseCsv(o.train.text, o.train.source);
  const validation = o.validationFraction ?? 0.1;
  const test = o.test ? 0 : 0.2;
  const parts = splitRows(parsed, { train: 1 - validation - test, validation, test }, o.seed ?? 0);
  const encoder = o.encoder ?? fitTabular(parts.train, o.schema);
  const withTables = encoder.embeddings.length > 0;
  const toSplit = (p: typeof parsed, source: string): Split => {
    const d = encoder.transform(p, source);
    return { rows: d.rows, x: d.dense, labels: d.labels, mask: d.mask, categorical: withTables ? d.categorical : undefined };
  };
  const testParsed = o.test ? parseCsv(o.test.text, o.test.source) : parts.test;
  return {
    dataset: {
      name: o.test ? `${o.train.source} / ${o.test.source}` : o.train.source,
      tasks: encoder.tasks,
      inputDim: encoder.denseNames.length,
      embeddings: withTables ? encoder.embeddings.map((e) => ({ name: e.column, vocabulary: e.vocabulary, dim: e.dim })) : undefined,
      train: toSplit(parts.train, o.train.source),
      validation: parts.validation.rows.length > 0 ? toSplit(parts.validation, o.train.source) : undefined,
      test: testParsed.rows.length > 0 ? toSplit(testParsed, o.test?.source ?? o.train.source) : undefined,
    },
    encoder,
  };
}

/** The standard multi-task roles of the UCI Adult (census income) files; categorical columns one-hot or through embeddings. */
export function adultSchema(encoding: 'onehot' | 'embedding' = 'onehot'): TabularSchema {
  return {
  labels: [
    { column: 'class', task: 'income', type: 'binary', positive: ['>50K', '>50K.'] },
    { column: 'marital-status', task: 'never_married', type: 'binary', positive: 'Never-married' },
  ],
  numeric: ['age', 'fnlwgt', 'education-num', 'capital-gain', 'capital-loss', 'hours-per-week'].map((column) => ({ column })),
  categorical: ['workclass', 'education', 'occupation', 'relationship', 'race', 'sex', 'native-country'].map((column) => ({ column, encoding })),
  };
}
