/**
 * The bad-input corpus: every case names the error kind it must raise and what the
 * message must name (field, line, column or limit). Inputs that look bad but are valid
 * (a BOM, CRLF line ends, quoted commas, huge values) must be read correctly instead.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, ple, resolveConfig, type ModelConfig } from '../src/config.js';
import { resolveOptimizer } from '../src/config.js';
import { DataError, parseCsv } from '../src/data/csv.js';
import { fitTabular, type TabularSchema } from '../src/data/tabular.js';
import { buildPlan } from '../src/plan.js';
import { buildSpec } from '../src/spec.js';
import { LimitError } from '../src/limits.js';
import { BatchError, Trainer } from '../src/trainer.js';
import { checkpointBytes, loadCheckpoint, readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { CheckpointError, encodeSafetensors } from '../src/checkpoint/safetensors.js';
import { testContext } from './gpu.js';
import { CpuDevice } from '../src/cpu/device.js';
import { thrownBy } from './helpers.js';

type Kind = new (...args: never[]) => Error;
interface Case {
  label: string;
  kind: Kind;
  message: RegExp;
  run: () => unknown;
}

const tasks = [
  { name: 'click', type: 'binary' as const },
  { name: 'time', type: 'regression' as const },
];
const base = (): ModelConfig => ({ inputDim: 4, tasks: tasks.map((t) => ({ ...t })), levels: [{ taskExperts: 1, sharedExperts: 1, expertWidths: [3] }], towerWidths: [2] });
const config = (change: (c: ModelConfig) => void) => () => {
  const c = base();
  change(c);
  return resolveConfig(c);
};
const schema: TabularSchema = { labels: [{ column: 'y', type: 'binary', positive: '1' }], numeric: [{ column: 'a' }], categorical: [{ column: 'c' }] };
const fitCsv = (text: string, s: TabularSchema = schema) => () => fitTabular(parseCsv(text, 'data.csv'), s);

const configCases: Case[] = [
  { label: 'zero tasks', kind: ConfigError, message: /^tasks: at least one task/, run: config((c) => (c.tasks = [])) },
  { label: 'a gate with no experts', kind: ConfigError, message: /^levels\[0\]\.taskExperts: the gate of task "click" has no experts/, run: config((c) => (c.levels[0] = { taskExperts: 0, sharedExperts: 0, expertWidths: [3] })) },
  { label: 'zero width', kind: ConfigError, message: /^levels\[0\]\.expertWidths\[0\]: must be an integer >= 1, got 0/, run: config((c) => (c.levels[0].expertWidths = [0])) },
  { label: 'negative width', kind: ConfigError, message: /^towerWidths\[1\]: .*got -4/, run: config((c) => (c.towerWidths = [2, -4])) },
  { label: 'non-integer width', kind: ConfigError, message: /^levels\[0\]\.expertWidths\[0\]: .*got 2\.5/, run: config((c) => (c.levels[0].expertWidths = [2.5])) },
  { label: 'unknown task type', kind: ConfigError, message: /^tasks\[1\]\.type: must be "binary" or "regression", got "ranking"/, run: config((c) => ((c.tasks[1] as { type: string }).type = 'ranking')) },
  { label: 'negative task weight', kind: ConfigError, message: /^tasks\[0\]\.weight: must be a finite number >= 0, got -1/, run: config((c) => (c.tasks = [{ ...tasks[0], weight: -1 }, tasks[1]])) },
  { label: 'NaN task weight', kind: ConfigError, message: /^tasks\[1\]\.weight: .*got NaN/, run: config((c) => (c.tasks = [tasks[0], { ...tasks[1], weight: NaN }])) },
  { label: 'duplicate task names', kind: ConfigError, message: /^tasks\[1\]\.name: duplicate task name "click"/, run: config((c) => (c.tasks = [tasks[0], { ...tasks[1], name: 'click' }])) },
  { label: 'string input width', kind: ConfigError, message: /^inputDim: must be an integer >= 1, got "4"/, run: config((c) => ((c as { inputDim: unknown }).inputDim = '4')) },
  { label: 'embedding with no rows', kind: ConfigError, message: /^embeddings\[0\]\.vocabulary: must be an integer >= 1, got 0/, run: config((c) => (c.embeddings = [{ name: 'city', vocabulary: 0, dim: 4 }])) },
  { label: 'NaN learning rate', kind: ConfigError, message: /^optimizer\.lr: must be a finite number >= 0, got NaN/, run: () => resolveOptimizer({ kind: 'adam', lr: NaN }) },
  { label: 'momentum of 1', kind: ConfigError, message: /^optimizer\.momentum: must be in \[0, 1\), got 1/, run: () => resolveOptimizer({ kind: 'sgd', lr: 0.1, momentum: 1 }) },
];

const csvCases: Case[] = [
  { label: 'empty file', kind: DataError, message: /^data\.csv is empty/, run: fitCsv('') },
  { label: 'header only', kind: DataError, message: /^data\.csv has a header but no data rows/, run: fitCsv('a,c,y\n') },
  { label: 'ragged row', kind: DataError, message: /^data\.csv line 3: expected 3 fields, got 2/, run: fitCsv('a,c,y\n1,x,1\n2,y\n') },
  { label: 'text in a numeric column', kind: DataError, message: /^data\.csv line 3: .*"a".*"abc"|^data\.csv line 3: .*abc.*a/, run: fitCsv('a,c,y\n1,x,1\nabc,y,0\n') },
  { label: 'label column missing', kind: DataError, message: /^data\.csv has no column "y"/, run: fitCsv('a,c,z\n1,x,1\n') },
  { label: 'every label of a task missing', kind: DataError, message: /task "y"|"y".*missing/, run: fitCsv('a,c,y\n1,x,?\n2,y,?\n') },
  { label: 'regression label not a number', kind: DataError, message: /^data\.csv line 2: .*"y"/, run: fitCsv('a,c,y\n1,x,many\n', { labels: [{ column: 'y', type: 'regression' }], numeric: [{ column: 'a' }] }) },
  { label: 'a column named in two roles', kind: DataError, message: /^data\.csv schema names column "a" twice/, run: fitCsv('a,c,y\n1,x,1\n', { ...schema, categorical: [{ column: 'a' }] }) },
];

describe('bad-input corpus', () => {
  for (const c of [...configCases, ...csvCases]) {
    it(c.label, () => {
      expect(thrownBy(c.kind, c.run).message).toMatch(c.message);
    });
  }

  it('valid but awkward CSV: BOM, CRLF line ends, quoted fields with commas, huge values', () => {
    const text = '\uFEFFa,c,y\r\n1e30,"x, y",1\r\n-1e30,"z",0\r\n0,"x, y",1\r\n';
    const parsed = parseCsv(text, 'data.csv');
    expect(parsed.header).toEqual(['a', 'c', 'y']);
    expect(parsed.rows[0]).toEqual(['1e30', 'x, y', '1']);
    const data = fitTabular(parsed, schema).transform(parsed);
    expect(data.dense.every(Number.isFinite)).toBe(true);
    expect(data.denseNames).toContain('c=x, y');
    expect(Array.from(data.labels)).toEqual([1, 0, 1]);
  });

  it('batches and shapes: errors name the field, row, column or limit', async () => {
    const ctx = await testContext();
    const trainer = await Trainer.create(ctx, ple({ inputDim: 3, embeddings: [{ name: 'city', vocabulary: 5, dim: 2 }], tasks, levels: 1, taskExperts: 1, sharedExperts: 1, expertWidths: [3], towerWidths: [] }), { batchSize: 4 });
    const ok = { rows: 2, x: [0, 0, 0, 0, 0, 0], labels: [1, 0, 0, 1], categorical: [0, 4] };
    const cases: [string, object, RegExp][] = [
      ['too many rows', { rows: 5 }, /batch\.rows must be an integer in \[1, 4\]/],
      ['short x', { x: [0, 0] }, /batch\.x has 2 values, expected rows \(2\) x inputDim \(3\) = 6/],
      ['infinite input', { x: [0, 0, 0, 0, Infinity, 0] }, /batch\.x row 1 column 1 is Infinity/],
      ['NaN label under mask 1', { labels: [1, NaN, 0, 1] }, /batch\.labels row 0 task "time" is NaN/],
      ['mask not 0/1', { mask: [1, 0.5, 1, 1] }, /batch\.mask row 0 task 1 is 0\.5/],
      ['category index out of range', { categorical: [0, 5] }, /batch\.categorical row 1 table "city" is 5; it must be an integer in \[0, 5\)/],
      ['categorical missing', { categorical: undefined }, /batch\.categorical has 0 values, expected rows \(2\) x embedding tables \(1\) = 2/],
    ];
    for (const [label, change, message] of cases) {
      expect(() => trainer.step({ ...ok, ...change }), label).toThrow(BatchError);
      expect(() => trainer.step({ ...ok, ...change }), label).toThrow(message);
    }
    expect(trainer.steps).toBe(0);
    trainer.destroy();
    // x as a Float32Array as wide as the model's input (no embeddings) takes the copy-then-check path.
    const plain = await Trainer.create(ctx, ple({ inputDim: 3, tasks, levels: 1, taskExperts: 1, sharedExperts: 1, expertWidths: [3], towerWidths: [] }), { batchSize: 4 });
    const typed: [number, number, RegExp][] = [
      [5, NaN, /batch\.x row 1 column 2 is NaN/],
      [0, -Infinity, /batch\.x row 0 column 0 is -Infinity/],
    ];
    for (const [i, v, message] of typed) {
      const x = new Float32Array(6);
      x[i] = v;
      expect(() => plain.step({ rows: 2, x, labels: [1, 0, 0, 1] }), String(v)).toThrow(message);
    }
    expect(plain.steps).toBe(0);
    plain.destroy();
    const error = await buildPlan(ctx, buildSpec(ple({ inputDim: 1000, tasks, levels: 1, taskExperts: 1, sharedExperts: 1, expertWidths: [8], towerWidths: [] })), { batchSize: 1 << 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LimitError);
    expect((error as LimitError).message).toMatch(/(maxStorageBufferBindingSize|maxBufferSize) of \d+ bytes; the largest batch size that fits is \d+/);
  });

  // The CPU device checks the staged x in WebAssembly, 16, 4 and 1 floats at a time (3 rows of 21:
  // 48, 12 and 3 floats): a value that is not finite anywhere in those steps is found, named by the
  // batch's row and column, and a batch of finite values, however large, trains.
  for (const threads of [1, 2]) {
    it(`a staged x that is not finite is found wherever it is (CPU device, ${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      const [inputDim, rows] = [21, 3];
      const trainer = await Trainer.create(await CpuDevice.create({ threads }), ple({ inputDim, tasks, levels: 1, taskExperts: 1, sharedExperts: 1, expertWidths: [3], towerWidths: [] }), { batchSize: 4 });
      try {
        const labels = [1, 0, 0, 1, 1, 0];
        for (const i of [0, 15, 16, 47, 48, 59, 60, 62]) {
          for (const v of [NaN, Infinity, -Infinity]) {
            const x = new Float32Array(rows * inputDim).fill(1.5);
            x[i] = v;
            expect(() => trainer.step({ rows, x, labels }), `x[${i}] = ${v}`).toThrow(`batch.x row ${Math.floor(i / inputDim)} column ${i % inputDim} is ${v}; inputs must be finite`);
          }
        }
        expect(trainer.steps).toBe(0);
        const big = new Float32Array(rows * inputDim).fill(1.5);
        big[61] = 3.4e38;
        big[3] = -3.4e38;
        await trainer.step({ rows, x: big, labels });
        expect(trainer.steps).toBe(1);
      } finally {
        trainer.destroy();
      }
    });
  }

  it('checkpoints: truncated, of another model, not safetensors, another format; the model is left untouched', async () => {
    const ctx = await testContext();
    const a = await Trainer.create(ctx, ple({ inputDim: 3, tasks, levels: 1, taskExperts: 1, sharedExperts: 1, expertWidths: [3], towerWidths: [] }), { batchSize: 2, seed: 1 });
    const b = await Trainer.create(ctx, ple({ inputDim: 3, tasks, levels: 1, taskExperts: 2, sharedExperts: 1, expertWidths: [3], towerWidths: [] }), { batchSize: 2, seed: 2 });
    const bytes = await checkpointBytes(a);
    const before = await b.readParams();
    const cases: [string, () => unknown, RegExp][] = [
      ['truncated', () => readCheckpoint(bytes.subarray(0, bytes.length - 10), 'a.safetensors'), /^a\.safetensors: truncated/],
      ['another model', () => loadCheckpoint(b, readCheckpoint(bytes, 'a.safetensors'), 'a.safetensors'), /^a\.safetensors: checkpoint is for another model/],
      ['not safetensors', () => readCheckpoint(new Uint8Array([1, 2, 3]), 'x.bin'), /^x\.bin: not a safetensors file/],
      // Its first 8 bytes read as a huge header length: the file is named for what it is, not "truncated".
      ['a CSV picked as a checkpoint', () => readCheckpoint(new TextEncoder().encode('age,workclass,income\n39,State-gov,<=50K\n'), 'adult.csv'), /^adult\.csv: not a safetensors file \(it does not start with a safetensors header/],
      ['another format', () => readCheckpoint(encodeSafetensors([{ name: 'w', shape: [1], data: new Float32Array(1) }]), 'w.safetensors'), /^w\.safetensors: not a ple-webgpu checkpoint/],
    ];
    for (const [label, run, message] of cases) {
      expect(run, label).toThrow(CheckpointError);
      expect(run, label).toThrow(message);
    }
    expect(await b.readParams()).toEqual(before);
    a.destroy();
    b.destroy();
  });
});
