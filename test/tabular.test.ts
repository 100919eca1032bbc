/** Tabular preprocessing: hand-computed statistics and encodings, schema and data errors, splits, and the Adult data. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DataError, parseCsv } from '../src/data/csv.js';
import { fitTabular, splitRows, TabularEncoder, type TabularSchema } from '../src/data/tabular.js';
import { adultSchema } from '../src/data/sources.js';
import { thrownBy } from './helpers.js';

const dataError = (f: () => unknown): DataError => thrownBy(DataError, f);

/** Row r of a row-major matrix with `width` columns. */
const rowOf = (m: ArrayLike<number>, width: number, r: number) => Array.from(m).slice(r * width, (r + 1) * width);

// age: 10, 20, 30 and one missing -> mean 20, population std sqrt(200/3).
// hours (log1p): 0, 3, 0, 1 -> 0, 2a, 0, a with a = ln 2 -> mean 3a/4, std a*sqrt(11)/4,
//   so the standardised values are -3/sqrt(11), 5/sqrt(11), -3/sqrt(11), 1/sqrt(11).
// city: A twice, B and C once -> vocabulary [A, B, C] (frequency, then name).
// color: red twice, blue once, one missing -> [red, blue].
const TRAIN = [
  'age,hours,city,color,bought,rating,note',
  '10,0,A,red,yes,1.5,foo',
  '20,3, C ,red,no,?,bar', // ' C ' is trimmed
  '30,0,A,blue,yes,2.5,baz',
  '?,1,B,?,NA,3.5,qux',
].join('\n');

const schema: TabularSchema = {
  labels: [
    { column: 'bought', task: 'buy', type: 'binary', positive: 'yes' },
    { column: 'rating', type: 'regression' },
  ],
  numeric: [{ column: 'age' }, { column: 'hours', log1p: true }],
  categorical: [{ column: 'city' }, { column: 'color', encoding: 'embedding' }],
};

const AGE_STD = Math.sqrt(200 / 3);
const S11 = Math.sqrt(11);

describe('fitTabular and transform', () => {
  const train = parseCsv(TRAIN, 'train.csv');
  const encoder = fitTabular(train, schema);
  const data = encoder.transform(train);

  it('lays out the dense columns: numerics, missing indicators, one-hot blocks with the unknown slot first', () => {
    expect(data.denseNames).toEqual(['age', 'hours', 'age:missing', 'city=<unknown>', 'city=A', 'city=B', 'city=C']);
    expect(data.denseDim).toBe(7);
    expect(encoder.denseDim).toBe(7);
    expect(data.rows).toBe(4);
    expect(data.dense.length).toBe(28);
    // The ignored column 'note' and the label columns are not inputs.
    expect(data.denseNames.some((n) => /note|bought|rating/.test(n))).toBe(false);
  });

  it('standardises numerics with training mean and population std, log1p first', () => {
    const json = encoder.toJSON();
    expect(json.numeric[0]).toMatchObject({ column: 'age', mean: 20, hasMissing: true });
    expect(json.numeric[0].std).toBeCloseTo(AGE_STD, 12);
    expect(json.numeric[1].mean).toBeCloseTo((3 * Math.LN2) / 4, 12);
    expect(json.numeric[1].std).toBeCloseTo((Math.LN2 * S11) / 4, 12);
    const age = [0, 1, 2, 3].map((r) => data.dense[r * 7]);
    const hours = [0, 1, 2, 3].map((r) => data.dense[r * 7 + 1]);
    const expectedAge = [-10 / AGE_STD, 0, 10 / AGE_STD, 0]; // missing -> 0
    const expectedHours = [-3 / S11, 5 / S11, -3 / S11, 1 / S11];
    age.forEach((v, i) => expect(v).toBeCloseTo(expectedAge[i], 6));
    hours.forEach((v, i) => expect(v).toBeCloseTo(expectedHours[i], 6));
  });

  it('adds a missing indicator only for numerics with missing training values', () => {
    expect([0, 1, 2, 3].map((r) => data.dense[r * 7 + 2])).toEqual([0, 0, 0, 1]);
    expect(data.denseNames).not.toContain('hours:missing');
  });

  it('one-hot encodes by frequency then name', () => {
    // Rows: A, C, A, B -> positions 4, 6, 4, 5 of the dense row.
    expect(rowOf(data.dense, 7, 0).slice(3)).toEqual([0, 1, 0, 0]);
    expect(rowOf(data.dense, 7, 1).slice(3)).toEqual([0, 0, 0, 1]);
    expect(rowOf(data.dense, 7, 2).slice(3)).toEqual([0, 1, 0, 0]);
    expect(rowOf(data.dense, 7, 3).slice(3)).toEqual([0, 0, 1, 0]);
  });

  it('gives embedding columns as vocabulary indices, 0 for missing', () => {
    expect(Array.from(data.categorical)).toEqual([1, 1, 2, 0]);
    // vocabulary 3 (red, blue, unknown): dim = min(16, ceil(1.6 * 3^0.56)) = ceil(2.96) = 3.
    expect(data.embeddings).toEqual([{ column: 'color', vocabulary: 3, dim: 3 }]);
    expect(encoder.embeddings).toEqual(data.embeddings);
  });

  it('encodes labels per task and masks missing ones without dropping the row', () => {
    expect(data.tasks).toEqual([
      { name: 'buy', type: 'binary' },
      { name: 'rating', type: 'regression' },
    ]);
    expect(Array.from(data.labels)).toEqual([1, 1.5, 0, NaN, 1, 2.5, NaN, 3.5]);
    expect(Array.from(data.mask)).toEqual([1, 1, 1, 0, 1, 1, 0, 1]);
  });

  it('maps unseen categories to the unknown slot and uses training statistics on new data', () => {
    // Columns in another order; D and green were never seen; hours missing although it had none in training.
    const test = parseCsv(['note,color,city,hours,age,rating,bought', 'z,green,D,0,50,1,no', 'w,blue,B,?,20,?,yes'].join('\n'), 'test.csv');
    const t = encoder.transform(test);
    expect(t.rows).toBe(2);
    const r0 = rowOf(t.dense, 7, 0);
    expect(r0[0]).toBeCloseTo(30 / AGE_STD, 6);
    expect(r0[1]).toBeCloseTo(-3 / S11, 6);
    expect(r0.slice(2)).toEqual([0, 1, 0, 0, 0]); // city=<unknown>
    const r1 = rowOf(t.dense, 7, 1);
    expect(r1.slice(0, 2)).toEqual([0, 0]); // age at the mean; missing hours -> 0, no indicator column exists
    expect(r1.slice(2)).toEqual([0, 0, 0, 1, 0]); // city=B
    expect(Array.from(t.categorical)).toEqual([0, 2]);
    expect(Array.from(t.labels)).toEqual([0, 1, 1, NaN]);
    expect(Array.from(t.mask)).toEqual([1, 1, 1, 0]);
  });

  it('round-trips through JSON', () => {
    const restored = TabularEncoder.fromJSON(JSON.parse(JSON.stringify(encoder)));
    const again = restored.transform(train);
    expect(again.denseNames).toEqual(data.denseNames);
    expect(Array.from(again.dense)).toEqual(Array.from(data.dense));
    expect(Array.from(again.categorical)).toEqual(Array.from(data.categorical));
    expect(Array.from(again.labels)).toEqual(Array.from(data.labels));
    expect(() => TabularEncoder.fromJSON({ version: 2 })).toThrow(/not a version 1/);
  });
});

describe('other label and column options', () => {
  it('supports threshold labels, positive lists, a constant column and custom missing tokens', () => {
    const p = parseCsv('x,k,y,z\n5,a,3,P\n5,b,-,Q\n5,a,10,R\n');
    const enc = fitTabular(p, {
      labels: [
        { column: 'y', task: 'big', type: 'binary', threshold: 3 },
        { column: 'z', type: 'binary', positive: ['P', 'R'] },
      ],
      numeric: [{ column: 'x' }],
      categorical: [{ column: 'k', encoding: 'embedding', embeddingDim: 8 }],
      missing: ['-'],
    });
    const d = enc.transform(p);
    expect(enc.toJSON().numeric[0]).toMatchObject({ mean: 5, std: 1 }); // std 0 -> 1
    expect(Array.from(d.dense)).toEqual([0, 0, 0]);
    expect(Array.from(d.labels)).toEqual([0, 1, NaN, 0, 1, 1]);
    expect(Array.from(d.mask)).toEqual([1, 1, 0, 1, 1, 1]);
    expect(d.embeddings).toEqual([{ column: 'k', vocabulary: 3, dim: 8 }]);
    expect(d.denseNames).toEqual(['x']);
  });

  it('keeps huge values finite', () => {
    const p = parseCsv('v,y\n1e30,1\n-1e30,2\n0,3\n1e30,4\n');
    const enc = fitTabular(p, { labels: [{ column: 'y', type: 'regression' }], numeric: [{ column: 'v' }] });
    const d = enc.transform(p);
    // mean 2.5e29; deviations 7.5, -12.5, -2.5, 7.5 (x1e29) -> std sqrt(68.75)e29.
    const std = Math.sqrt(68.75) * 1e29;
    expect(enc.toJSON().numeric[0].std / std).toBeCloseTo(1, 12);
    expect(d.dense[0]).toBeCloseTo(7.5e29 / std, 5);
    expect(d.dense[1]).toBeCloseTo(-12.5e29 / std, 5);
    // A huge value against a small training scale stays finite too.
    const small = fitTabular(parseCsv('v,y\n1,1\n2,2\n'), { labels: [{ column: 'y', type: 'regression' }], numeric: [{ column: 'v' }] });
    const big = small.transform(parseCsv('v,y\n1e30,1\n-1e300,1\n'));
    expect(Array.from(big.dense).every(Number.isFinite)).toBe(true);
    expect(big.dense[0]).toBeCloseTo(2e30, -25);
  });
});

describe('schema and data errors', () => {
  const p = parseCsv('a,b,c,y\n1,x,2,0\n2,y,abc,1\n', 'f.csv');
  const labels: TabularSchema['labels'] = [{ column: 'y', type: 'regression' }];

  it('names a schema column missing from the header and lists the header', () => {
    const e = dataError(() => fitTabular(p, { labels: [{ column: 'income', type: 'binary', positive: '>50K' }], numeric: [{ column: 'a' }] }));
    expect(e.message).toBe('f.csv has no column "income" (labels[0]); its columns are: a, b, c, y');
    expect(e.column).toBe('income');
    expect(dataError(() => fitTabular(p, { labels, categorical: [{ column: 'B' }] })).message).toMatch(/no column "B" \(categorical\[0\]\)/);
  });

  it('rejects a column in two roles, no labels, no inputs and duplicate task names', () => {
    expect(dataError(() => fitTabular(p, { labels, numeric: [{ column: 'y' }] })).message).toBe('f.csv schema names column "y" twice: as labels[0] and as numeric[0]');
    expect(dataError(() => fitTabular(p, { labels, numeric: [{ column: 'a' }], categorical: [{ column: 'a' }] })).message).toMatch(/column "a" twice: as numeric\[0\] and as categorical\[0\]/);
    expect(dataError(() => fitTabular(p, { labels: [], numeric: [{ column: 'a' }] })).message).toMatch(/schema has no labels/);
    expect(dataError(() => fitTabular(p, { labels })).message).toMatch(/schema has no input columns/);
    expect(dataError(() => fitTabular(p, { labels: [...labels, { column: 'a', task: 'y', type: 'regression' }], numeric: [{ column: 'c' }] })).message).toMatch(/two tasks named "y"/);
  });

  it('names the line and column of a non-numeric value in a numeric column', () => {
    const e = dataError(() => fitTabular(p, { labels, numeric: [{ column: 'c' }] }));
    expect(e.message).toBe('f.csv line 3: column "c": expected a number, got "abc"');
    expect(e.line).toBe(3);
    expect(e.column).toBe('c');
    // Also at transform time, with the source given there.
    const enc = fitTabular(p, { labels, numeric: [{ column: 'a' }] });
    const bad = parseCsv('a,y\n1,1\n\n1 2,1\n');
    expect(dataError(() => enc.transform(bad, 'test.csv')).message).toBe('test.csv line 4: column "a": expected a number, got "1 2"');
  });

  it('names the line and column of a non-numeric regression label', () => {
    const q = parseCsv('a,y\n1,2\n2,high\n', 'r.csv');
    const e = dataError(() => fitTabular(q, { labels, numeric: [{ column: 'a' }] }));
    expect(e.message).toBe('r.csv line 3: column "y": expected a number, got "high"');
    expect([e.line, e.column]).toEqual([3, 'y']);
  });

  it('rejects log1p of a value at or below -1', () => {
    const q = parseCsv('a,y\n0,1\n-1,1\n', 'l.csv');
    const e = dataError(() => fitTabular(q, { labels, numeric: [{ column: 'a', log1p: true }] }));
    expect(e.message).toBe('l.csv line 3: column "a": log1p needs a value above -1, got -1');
  });

  it('rejects a task whose training labels are all missing, naming the task', () => {
    const q = parseCsv('a,y,z\n1,?,1\n2,NA,0\n3,,1\n', 'm.csv');
    const e = dataError(() => fitTabular(q, { labels: [{ column: 'z', type: 'regression' }, { column: 'y', task: 'income', type: 'binary', positive: '>50K' }], numeric: [{ column: 'a' }] }));
    expect(e.message).toBe('m.csv has no training labels for task "income": every value of column "y" is missing');
  });

  it('rejects a positive set that matches no training value (e.g. ">50K." vs ">50K")', () => {
    const q = parseCsv('a,class\n1,<=50K\n2,>50K\n', 'c.csv');
    const e = dataError(() => fitTabular(q, { labels: [{ column: 'class', type: 'binary', positive: '>50K.' }], numeric: [{ column: 'a' }] }));
    expect(e.message).toMatch(/no positive training label for task "class".*values seen: <=50K, >50K/);
  });
});

describe('splitRows', () => {
  const text = ['id,y', ...Array.from({ length: 100 }, (_, i) => `${i},${i % 2}`)].join('\n');
  const p = parseCsv(text, 's.csv');
  const fractions = { train: 0.7, validation: 0.15, test: 0.15 };

  it('partitions the rows by the fractions, keeping lines with their rows', () => {
    const s = splitRows(p, fractions, 42);
    expect([s.train.rows.length, s.validation.rows.length, s.test.rows.length]).toEqual([70, 15, 15]);
    const ids = [s.train, s.validation, s.test].flatMap((part) => part.rows.map((r) => Number(r[0])));
    expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (const part of [s.train, s.validation, s.test]) {
      expect(part.header).toEqual(['id', 'y']);
      expect(part.source).toBe('s.csv');
      part.rows.forEach((r, i) => expect(part.lineOf[i]).toBe(Number(r[0]) + 2));
    }
    // A shuffle, not the first 70 rows.
    expect(s.train.rows.map((r) => Number(r[0]))).not.toEqual(Array.from({ length: 70 }, (_, i) => i));
  });

  it('is deterministic in the seed', () => {
    const ids = (seed: number) => splitRows(p, fractions, seed).test.rows.map((r) => r[0]);
    expect(ids(7)).toEqual(ids(7));
    expect(ids(7)).not.toEqual(ids(8));
  });

  it('rejects fractions that do not sum to 1', () => {
    expect(() => splitRows(p, { train: 0.8, validation: 0.1, test: 0.2 }, 1)).toThrow(RangeError);
    expect(() => splitRows(p, { train: 1.2, validation: -0.2, test: 0 }, 1)).toThrow(/non-negative/);
  });
});

describe('UCI Adult (the first 2,000 rows of each file, test/fixtures)', () => {
  it('fits on a split of the training file and encodes both files', () => {
    const parsed = parseCsv(readFileSync(new URL('./fixtures/adult.data.csv', import.meta.url), 'utf8'), 'adult.data.csv');
    expect(parsed.rows.length).toBe(2000);
    const { train, validation } = splitRows(parsed, { train: 0.8, validation: 0.2, test: 0 }, 1);
    const schema = adultSchema();
    const encoder = fitTabular(train, schema);
    const rate = (d: { labels: Float32Array; mask: Float32Array; rows: number }, k: number) => {
      let sum = 0;
      let n = 0;
      for (let r = 0; r < d.rows; r++) if (d.mask[r * 2 + k]) (sum += d.labels[r * 2 + k]), n++;
      return sum / n;
    };
    const testText = readFileSync(new URL('./fixtures/adult.test.csv', import.meta.url), 'utf8');
    for (const d of [encoder.transform(train), encoder.transform(validation), encoder.transform(parseCsv(testText, 'adult.test.csv'))]) {
      expect(rate(d, 0)).toBeGreaterThan(0.2);
      expect(rate(d, 0)).toBeLessThan(0.3);
      expect(rate(d, 1)).toBeGreaterThan(0.28);
      expect(rate(d, 1)).toBeLessThan(0.4);
      expect(Array.from(d.mask).every((m) => m === 1)).toBe(true);
      expect(Array.from(d.dense).every(Number.isFinite)).toBe(true);
      expect(d.dense.length).toBe(d.rows * d.denseDim);
    }
    const names = encoder.denseNames;
    expect(names.some((n) => n.startsWith('class') || n.startsWith('marital-status'))).toBe(false);
    // '?' in workclass, occupation and native-country falls in the unknown slot rather than a '?' category.
    expect(names).toContain('workclass=<unknown>');
    expect(names).not.toContain('workclass=?');
    expect(names).toContain('workclass=Private');
    expect(names.slice(0, 6)).toEqual(schema.numeric!.map((n) => n.column));
  });
});
