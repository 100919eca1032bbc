/**
 * Bad data files: each must fail with a DataError naming the file, the column
 * and the row group / record batch / row; a truncated file must not touch an
 * existing checkpoint. Nulls in a label are the task's mask (PLE's sample space),
 * not an error, unless every label of a task is missing.
 */
import { describe, expect, it } from 'vitest';
import { createReadStream, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { Field, Float64, Int32, List, makeTable, RecordBatch, Table, tableFromArrays, tableToIPC, vectorFromArray } from 'apache-arrow';
import { openRowSource } from '../src/data/files.js';
import { streamDataset } from '../src/data/stream.js';
import { DataError, parseCsv } from '../src/data/csv.js';
import { readCsvChunks } from '../src/serving/csv-chunks.js';
import type { TabularSchema } from '../src/data/tabular.js';
import { chunksOf } from '../src/data/dataset.js';
import { main } from '../src/cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'ple-bad-'));
const schema: TabularSchema = { labels: [{ column: 'y', type: 'binary', threshold: 0.5 }], numeric: [{ column: 'a' }], categorical: [{ column: 'c' }] };
const N = 200;
const ys = Int32Array.from({ length: N }, (_, i) => i % 2);
const as = Float64Array.from({ length: N }, (_, i) => i / 10);
const cs = Array.from({ length: N }, (_, i) => `c${i % 7}`);

async function failure(file: string, s: TabularSchema = schema): Promise<DataError> {
  try {
    const source = await openRowSource(file);
    const { dataset } = await streamDataset({ schema: s, train: source, validationFraction: 0, seed: 1 });
    for await (const _ of chunksOf(dataset.train)) void _;
  } catch (e) {
    if (e instanceof DataError) return e;
    throw new Error(`expected a DataError, got ${String(e)}`);
  }
  throw new Error('expected a DataError, but nothing was thrown');
}

function parquet(name: string, columns: Parameters<typeof parquetWriteFile>[0]['columnData']): string {
  const file = join(dir, name);
  parquetWriteFile({ filename: file, columnData: columns, rowGroupSize: 64 });
  return file;
}

describe('bad Parquet files', () => {
  it('a missing column: names the file, the column and the columns it has', async () => {
    const file = parquet('missing.parquet', [
      { name: 'y', data: ys, type: 'INT32' },
      { name: 'c', data: cs, type: 'STRING' },
    ]);
    const e = await failure(file);
    expect(e.message).toBe(`${file} has no column "a" (numeric[0]); its columns are: y, c`);
    expect(e.column).toBe('a');
  });

  it('a wrongly typed column: text where numbers are needed names the row group and row; a boolean column is refused by type', async () => {
    const text = cs.map((_, i) => (i === 70 ? 'seven' : String(i)));
    const file = parquet('text.parquet', [
      { name: 'y', data: ys, type: 'INT32' },
      { name: 'a', data: text, type: 'STRING' },
      { name: 'c', data: cs, type: 'STRING' },
    ]);
    const e = await failure(file);
    expect(e.message).toBe(`${file} row group 1, row 71: column "a": expected a number, got "seven"`);
    expect([e.column, e.location]).toEqual(['a', 'row group 1, row 71']);

    const flags = parquet('bool.parquet', [
      { name: 'y', data: ys, type: 'INT32' },
      { name: 'a', data: Array.from(ys, (y) => y === 1), type: 'BOOLEAN' },
      { name: 'c', data: cs, type: 'STRING' },
    ]);
    expect((await failure(flags)).message).toBe(`${flags} column "a" (numeric[0]) is of a boolean type; it needs numbers`);
  });

  it('a nested (JSON) column where a scalar is needed', async () => {
    const file = parquet('nested.parquet', [
      { name: 'y', data: ys, type: 'INT32' },
      { name: 'a', data: as, type: 'DOUBLE' },
      { name: 'c', data: cs.map((c) => ({ tags: [c] })), type: 'JSON' },
    ]);
    expect((await failure(file)).message).toBe(`${file} column "c" (categorical[0]) holds lists or structs; it needs one scalar value per row`);
  });

  it('a truncated file', async () => {
    const good = parquet('whole.parquet', [
      { name: 'y', data: ys, type: 'INT32' },
      { name: 'a', data: as, type: 'DOUBLE' },
      { name: 'c', data: cs, type: 'STRING' },
    ]);
    const bytes = readFileSync(good);
    const file = join(dir, 'truncated.parquet');
    writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    expect((await failure(file)).message).toMatch(new RegExp(`^${file} is not a readable Parquet file \\(truncated or not Parquet\\?\\)`));
  });
});

describe('bad Arrow files', () => {
  it('a list column where a scalar is needed', async () => {
    const list = vectorFromArray(cs.map((c, i) => [c.length, i]), new List(new Field('item', new Int32(), true)));
    const table = makeTable({ y: ys, a: as }).assign(new Table({ c: list }));
    const file = join(dir, 'list.arrow');
    writeFileSync(file, tableToIPC(table, 'file'));
    expect((await failure(file)).message).toBe(`${file} column "c" (categorical[0]) holds lists or structs; it needs one scalar value per row`);
  });

  it('nulls in a label mask those rows out of the task; a label with no value at all is an error naming the column', async () => {
    const some = join(dir, 'some-null.arrow');
    writeFileSync(some, tableToIPC(tableFromArrays({ y: Array.from(ys, (y, i) => (i % 3 === 0 ? null : y)), a: as, c: cs }), 'file'));
    const source = await openRowSource(some);
    const { dataset } = await streamDataset({ schema, train: source, test: source, validationFraction: 0, seed: 1 });
    const masks: number[] = [];
    for await (const c of chunksOf(dataset.train)) masks.push(...c.mask);
    expect(masks.length).toBe(N);
    expect(masks.filter((m) => m === 0).length).toBe(Math.ceil(N / 3));

    const none = join(dir, 'all-null.arrow');
    writeFileSync(none, tableToIPC(makeTable({ y: Float64Array.from(as) }).assign(new Table({ y: vectorFromArray(new Array(N).fill(null), new Float64()), a: vectorFromArray(as), c: vectorFromArray(cs) })), 'file'));
    const e = await failure(none);
    expect(e.message).toBe(`${none} has no training labels for task "y": every value of column "y" is missing`);
    expect(e.column).toBe('y');
  });

  it('a stream truncated mid-batch names the record batch', async () => {
    const batches = [0, 1, 2, 3].map((b) => new RecordBatch({ y: vectorFromArray(ys.subarray(b * 50, b * 50 + 50)).data[0], a: vectorFromArray(as.subarray(b * 50, b * 50 + 50)).data[0] }));
    const bytes = tableToIPC(new Table(batches), 'stream');
    const file = join(dir, 'truncated.arrow');
    writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
    const e = await failure(file, { labels: [{ column: 'y', type: 'binary', threshold: 0.5 }], numeric: [{ column: 'a' }] });
    expect(e.message).toMatch(new RegExp(`^${file} record batch 2 \\(after row 100\\): cannot be read \\(truncated or corrupt file\\?\\): `));
  });
});

describe('bad CSV files', () => {
  it('a file truncated mid-row names the row', async () => {
    const file = join(dir, 'truncated.csv');
    writeFileSync(file, 'y,a,c\n' + Array.from({ length: N }, (_, i) => `${ys[i]},${as[i]},${cs[i]}`).join('\n').slice(0, -3));
    expect((await failure(file)).message).toBe(`${file} row ${N}: expected 3 fields, got 2 (truncated file?)`);
  });

  it('a file separated by semicolons or tabs, or binary data, says so (streaming reader and chunked scorer alike)', async () => {
    const rows = Array.from({ length: 5 }, (_, i) => [ys[i], as[i], cs[i]]);
    const cases: [string, string | Uint8Array, RegExp][] = [
      ['semicolons.csv', ['y;a;c', ...rows.map((r) => r.join(';'))].join('\n'), /semicolons.csv separates its values with semicolons, not commas/],
      ['tabs.csv', ['y\ta\tc', ...rows.map((r) => r.join('\t'))].join('\n'), /tabs.csv separates its values with tabs, not commas/],
      ['binary.csv', Uint8Array.from({ length: 256 }, (_, i) => (i % 3 === 0 ? 0 : 65 + (i % 26))), /binary.csv is not a text file/],
    ];
    for (const [name, content, message] of cases) {
      const file = join(dir, name);
      writeFileSync(file, content);
      expect((await failure(file)).message, name).toMatch(message);
      const scored = readCsvChunks(createReadStream(file), file, 10, () => {}, async () => {}).then(
        () => new Error('expected a DataError, but nothing was thrown'),
        (e: unknown) => e,
      );
      expect(await scored, name).toBeInstanceOf(DataError);
      expect(String(await scored), name).toMatch(message);
      expect(() => parseCsv(readFileSync(file, 'utf8'), file), name).toThrow(message);
    }
  });
});

describe('a truncated file and the checkpoint', () => {
  it('fails before training and leaves an existing checkpoint as it was', async () => {
    const out = join(dir, 'run');
    mkdirSync(out, { recursive: true });
    const checkpoint = join(out, 'checkpoint.safetensors');
    writeFileSync(checkpoint, 'the previous good checkpoint');
    const file = join(dir, 'cut.parquet');
    writeFileSync(file, readFileSync(join(dir, 'whole.parquet')).subarray(0, 300));
    await expect(main(['--data', 'file', '--train', file, '--label', 'y=y:threshold:0.5', '--numeric', 'a', '--out', out, '--quiet'])).rejects.toThrow(DataError);
    expect(readFileSync(checkpoint, 'utf8')).toBe('the previous good checkpoint');
  });
});
