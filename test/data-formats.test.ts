/**
 * Data files in every format through the one row-source interface: the same
 * table written as CSV, Parquet and Arrow IPC gives the same encoder and the same
 * encoded rows; the streaming fit equals the in-memory one; shuffled epochs see
 * every row once; the stable hash; the click log; the embedding-table limit.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { openRowSource } from '../src/data/files.js';
import { fitTabular, type TabularSchema } from '../src/data/tabular.js';
import { parseCsv } from '../src/data/csv.js';
import { epochBatches, streamDataset, splitOfRow } from '../src/data/stream.js';
import { chunksOf, type Split, type StreamSplit } from '../src/data/dataset.js';
import { fnv1a32, hashedRow } from '../src/data/hash.js';
import { Clicklog } from '../src/data/clicklog.js';
import { writeClicklogParquet } from '../src/data/clicklog-file.js';
import { checkEmbeddingTables } from '../src/data/table-limits.js';
import { ple } from '../src/config.js';
import { main } from '../src/cli/main.js';
import { UsageError } from '../src/cli/args.js';
import { LimitError } from '../src/limits.js';
import { Rng } from '../src/rng.js';
import { caseSeed, thrownBy } from './helpers.js';

/** All items of an async iterable (Array.fromAsync is not in Node 20). */
async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of items) out.push(x);
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'ple-data-'));
const N = 300;

/** A table with a row id, a numeric column with missing values, a categorical one, a binary and a masked label. */
function table(seed: number) {
  const rng = new Rng(seed);
  const cities = ['Paris', 'Oslo', 'Lima', 'Kyōto', 'Zürich'];
  const id = Array.from({ length: N }, (_, i) => i);
  const age = id.map(() => (rng.uniform() < 0.1 ? null : Math.round(rng.uniform() * 80 * 100) / 100));
  const city = id.map(() => cities[Math.floor(rng.uniform() ** 2 * cities.length)]);
  const click = id.map(() => (rng.uniform() < 0.4 ? 1 : 0));
  const buy = click.map((c) => (c ? (rng.uniform() < 0.5 ? 1 : 0) : null));
  return { id, age, city, click, buy };
}

const schema: TabularSchema = {
  labels: [
    { column: 'click', type: 'binary', threshold: 0.5 },
    { column: 'buy', type: 'binary', threshold: 0.5 },
  ],
  numeric: [{ column: 'id' }, { column: 'age' }],
  categorical: [{ column: 'city', encoding: 'onehot' }],
};

function writeAll(t: ReturnType<typeof table>) {
  const csv = ['id,age,city,click,buy', ...t.id.map((_, i) => [t.id[i], t.age[i] ?? '', t.city[i], t.click[i], t.buy[i] ?? ''].join(','))].join('\n') + '\n';
  writeFileSync(join(dir, 't.csv'), csv);
  parquetWriteFile({
    filename: join(dir, 't.parquet'),
    columnData: [
      { name: 'id', data: Int32Array.from(t.id), type: 'INT32' },
      { name: 'age', data: t.age, type: 'DOUBLE', nullable: true },
      { name: 'city', data: t.city, type: 'STRING' },
      { name: 'click', data: Int32Array.from(t.click), type: 'INT32' },
      { name: 'buy', data: t.buy, type: 'INT32', nullable: true },
    ],
    rowGroupSize: 64,
  });
  const arrow = tableFromArrays({
    id: Int32Array.from(t.id),
    age: t.age.map((a) => a ?? null),
    city: t.city,
    click: Int32Array.from(t.click),
    buy: t.buy,
  });
  writeFileSync(join(dir, 't.arrow'), tableToIPC(arrow, 'file'));
  return csv;
}

async function rowsOf(split: Split | StreamSplit): Promise<Map<number, number[]>> {
  // Keyed by the row id (the first dense input, standardised, is a monotone function of it).
  const out = new Map<number, number[]>();
  for await (const c of chunksOf(split)) {
    const D = c.x.length / c.rows;
    const K = c.labels.length / c.rows;
    for (let r = 0; r < c.rows; r++) out.set(c.x[r * D], [...c.x.subarray(r * D, (r + 1) * D), ...c.labels.subarray(r * K, (r + 1) * K), ...c.mask.subarray(r * K, (r + 1) * K)]);
  }
  return out;
}

describe('formats', () => {
  const seed = caseSeed('formats');
  let csvText = '';
  beforeAll(() => {
    csvText = writeAll(table(seed));
  });

  it('CSV, Parquet and Arrow IPC give the same encoder and the same encoded rows as the in-memory CSV path', async () => {
    const inMemory = fitTabular(parseCsv(csvText, 't.csv'), schema);
    const want = inMemory.transform(parseCsv(csvText, 't.csv'));
    for (const file of ['t.csv', 't.parquet', 't.arrow']) {
      const source = await openRowSource(join(dir, file));
      // Everything trains (the test file is the same file), so the encoders must be equal.
      const { dataset, encoder } = await streamDataset({ schema, train: source, test: source, validationFraction: 0, seed: 1 });
      expect(encoder.toJSON(), `${file} (seed ${seed})`).toEqual(inMemory.toJSON());
      expect(dataset.train.rows).toBe(N);
      const got = await rowsOf(dataset.train);
      expect(got.size).toBe(N);
      for (let r = 0; r < N; r++) {
        const key = want.dense[r * want.denseDim];
        const row = [...want.dense.subarray(r * want.denseDim, (r + 1) * want.denseDim), ...want.labels.subarray(r * 2, r * 2 + 2), ...want.mask.subarray(r * 2, r * 2 + 2)];
        expect(got.get(key), `${file} row ${r} (seed ${seed})`).toEqual(row);
      }
    }
  });

  it('reads Parquet one row group per chunk and names row groups in locations', async () => {
    const source = await openRowSource(join(dir, 't.parquet'));
    const sizes: number[] = [];
    for await (const c of source.chunks(['id'])) {
      sizes.push(c.rows);
      expect(c.column('id')![0]).toBe(c.firstRow);
    }
    expect(sizes).toEqual([64, 64, 64, 64, 44]);
    const last = (await collect(source.chunks(['id'])))[4];
    expect(last.where(3)).toBe('row group 4, row 260');
  });
});

describe('streaming', () => {
  const seed = caseSeed('streaming');
  const inMemorySplit = (): Split => {
    const t = table(seed);
    const csv = writeAll(t);
    const parsed = parseCsv(csv, 't.csv');
    const d = fitTabular(parsed, schema).transform(parsed);
    return { rows: d.rows, x: d.dense, labels: d.labels, mask: d.mask };
  };

  it('an epoch through a small shuffle buffer sees every row exactly once, in a new order each epoch', async () => {
    writeAll(table(seed));
    const source = await openRowSource(join(dir, 't.parquet'));
    // The city through a hashed embedding table: its row travels with the rest of the row.
    const hashed: TabularSchema = { ...schema, categorical: [{ column: 'city', hashBuckets: 64 }] };
    const { dataset, encoder } = await streamDataset({ schema: hashed, train: source, test: source, validationFraction: 0, seed: 1 });
    const t = table(seed);
    const cityOf = new Map(t.id.map((id, i) => [id, hashedRow(t.city[i], 64)]));
    const meanId = (N - 1) / 2;
    const stdId = Math.sqrt((N * N - 1) / 12);
    const orders: number[][] = [];
    for (const epochSeed of [1, 2]) {
      const seen: number[] = [];
      const sizes: number[] = [];
      for await (const b of epochBatches(dataset.train, encoder.denseDim, 2, 32, { seed: epochSeed, shuffleBuffer: 50 })) {
        sizes.push(b.rows);
        for (let r = 0; r < b.rows; r++) {
          seen.push(b.x[r * encoder.denseDim] as number);
          const id = Math.round((b.x[r * encoder.denseDim] as number) * stdId + meanId);
          expect(b.categorical![r], `row ${id} (seed ${seed})`).toBe(cityOf.get(id));
        }
      }
      expect(sizes.slice(0, -1).every((s) => s === 32), `seed ${seed}`).toBe(true);
      expect(seen.length).toBe(N);
      expect(new Set(seen).size, `every row once (seed ${seed})`).toBe(N);
      orders.push(seen);
    }
    const fileOrder = [...orders[0]].sort((a, b) => a - b);
    expect(orders[0]).not.toEqual(fileOrder);
    expect(orders[0]).not.toEqual(orders[1]);
    // The buffer is bounded: file row f is read once f - 50 rows have left, so it leaves at place >= f - 50.
    orders[0].forEach((key, i) => expect(fileOrder.indexOf(key)).toBeLessThanOrEqual(i + 50));
  });

  it('without shuffling, streamed batches equal the in-memory split in file order', async () => {
    const split = inMemorySplit();
    const source = await openRowSource(join(dir, 't.arrow'));
    const { dataset, encoder } = await streamDataset({ schema, train: source, test: source, validationFraction: 0, seed: 1 });
    const a = await collect(epochBatches(split, encoder.denseDim, 2, 40, { seed: 0, shuffle: false }));
    const b = await collect(epochBatches(dataset.train, encoder.denseDim, 2, 40, { seed: 0, shuffle: false }));
    expect(b.map((x) => [x.rows, Array.from(x.x), Array.from(x.labels), Array.from(x.mask!)])).toEqual(a.map((x) => [x.rows, Array.from(x.x), Array.from(x.labels), Array.from(x.mask!)]));
  });

  it('splits rows by a hash of their file row: disjoint, covering, near the asked fractions', async () => {
    const source = await openRowSource(join(dir, 't.csv'));
    const { dataset } = await streamDataset({ schema, train: source, validationFraction: 0.2, seed: 5 });
    const parts = [dataset.train, dataset.validation!, dataset.test!];
    const keys = await Promise.all(parts.map(async (p) => [...(await rowsOf(p)).keys()]));
    keys.forEach((k, i) => expect(k.length).toBe(parts[i].rows));
    expect(new Set(keys.flat()).size).toBe(N);
    expect(parts.map((p) => p.rows).reduce((a, b) => a + b)).toBe(N);
    let validation = 0;
    for (let r = 0; r < 100000; r++) if (splitOfRow(r, 5, { validation: 0.2, test: 0.2 }) === 'validation') validation++;
    expect(validation / 100000).toBeCloseTo(0.2, 2);
  });
});

describe('hashing', () => {
  // The same vectors check the PyTorch package's hash (python/tests/test_tabular.py).
  const vectors = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'fnv1a.json'), 'utf8')) as {
    published: { text: string; fnv1a32: string }[];
    utf8: { text: string; fnv1a32: string }[];
    rows: { text: string; buckets: number; row: number }[];
  };

  it('is 32-bit FNV-1a over UTF-8 bytes (the published test vectors, and multi-byte text)', () => {
    for (const v of [...vectors.published, ...vectors.utf8]) expect(fnv1a32(v.text), JSON.stringify(v.text)).toBe(Number(v.fnv1a32));
    for (const v of vectors.rows) expect(hashedRow(v.text, v.buckets), `${JSON.stringify(v.text)} in ${v.buckets}`).toBe(v.row);
  });

  it('encodes non-ASCII text as TextEncoder does, lone surrogates included', () => {
    const seed = caseSeed('hash');
    const rng = new Rng(seed);
    const reference = (s: string) => {
      let h = 0x811c9dc5;
      for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
      return h;
    };
    const alphabet = ['a', 'é', 'ß', '中', '😀', '\ud800', '\udc00', '0', ' '];
    for (let i = 0; i < 500; i++) {
      const s = Array.from({ length: Math.floor(rng.uniform() * 8) }, () => alphabet[Math.floor(rng.uniform() * alphabet.length)]).join('');
      expect(fnv1a32(s), `${JSON.stringify(s)} (seed ${seed})`).toBe(reference(s));
    }
  });

  it('maps values to rows 1..B-1, keeping row 0 for missing values, through the encoder', async () => {
    expect(hashedRow('Paris', 2)).toBe(1);
    for (const v of ['Paris', 'Oslo', '42']) expect(hashedRow(v, 1000)).toBe(1 + (fnv1a32(v) % 999));
    const csv = 'city,y\nParis,1\n,0\nOslo,1\n42,0\n';
    const parsed = parseCsv(csv, 'h.csv');
    const enc = fitTabular(parsed, { labels: [{ column: 'y', type: 'binary', threshold: 0.5 }], categorical: [{ column: 'city', hashBuckets: 1000 }] });
    expect(enc.embeddings).toEqual([{ column: 'city', vocabulary: 1000, dim: 16 }]);
    expect(Array.from(enc.transform(parsed).categorical)).toEqual([hashedRow('Paris', 1000), 0, hashedRow('Oslo', 1000), hashedRow('42', 1000)]);
  });

  it('applies --min-count and --max-vocab to vocabularies (rare values share the unknown row)', () => {
    const csv = 'c,y\n' + ['a', 'a', 'a', 'b', 'b', 'c', 'd', 'd', 'd', 'd'].map((v) => `${v},1`).join('\n') + '\n';
    const parsed = parseCsv(csv, 'v.csv');
    const fitWith = (minCount?: number, maxVocab?: number) =>
      fitTabular(parsed, { labels: [{ column: 'y', type: 'regression' }], categorical: [{ column: 'c' }], minCount, maxVocab }).toJSON().categorical[0].vocabulary;
    expect(fitWith()).toEqual(['d', 'a', 'b', 'c']);
    expect(fitWith(2)).toEqual(['d', 'a', 'b']);
    expect(fitWith(1, 2)).toEqual(['d', 'a']);
  });
});

describe('click log', () => {
  it('is the same rows on every pass; conversion is labelled exactly on clicked rows; Parquet round trip', async () => {
    const log = new Clicklog({ rows: 5000, seed: 7, chunkRows: 2048 });
    const a = await collect(log.source().chunks());
    const b = await collect(log.source().chunks());
    expect(a.map((c) => c.rows)).toEqual([2048, 2048, 904]);
    expect(Array.from(b[1].column('user_id')!)).toEqual(Array.from(a[1].column('user_id')!));
    let clicks = 0;
    for (const c of a) {
      const click = c.column('click')!;
      const conv = c.column('conversion')!;
      for (let r = 0; r < c.rows; r++) {
        expect(conv[r] === null).toBe(click[r] === 0);
        clicks += click[r] as number;
      }
    }
    expect(clicks / 5000).toBeGreaterThan(0.2);
    expect(clicks / 5000).toBeLessThan(0.6);
    // Popular IDs: the most frequent user appears far more than uniformly (Zipf).
    const users = a.flatMap((c) => Array.from(c.column('user_id') as Int32Array));
    const counts = new Map<number, number>();
    for (const u of users) counts.set(u, (counts.get(u) ?? 0) + 1);
    expect(Math.max(...counts.values())).toBeGreaterThan(20 * (5000 / 20000));

    const file = join(dir, 'clicklog.parquet');
    await writeClicklogParquet(log, file);
    const source = await openRowSource(file);
    expect(source.rows).toBe(5000);
    const read = await collect(source.chunks());
    expect(read.map((c) => c.rows)).toEqual([2048, 2048, 904]);
    for (const name of log.columns) expect(Array.from(read[2].column(name)!), name).toEqual(Array.from(a[2].column(name)!));
  });
});

describe('npm start -- --data clicklog --write FILE', () => {
  it('writes the log to Parquet and refuses other file types', async () => {
    const file = join(dir, 'cli-clicklog.parquet');
    await main(['--data', 'clicklog', '--rows', '300', '--seed', '4', '--write', file]);
    const source = await openRowSource(file);
    expect(source.rows).toBe(300);
    const [chunk] = await collect(source.chunks(['user_id']));
    expect(Array.from(chunk.column('user_id')!)).toEqual(Array.from(new Clicklog({ rows: 300, seed: 4 }).chunk(0).user));
    await expect(main(['--data', 'clicklog', '--write', join(dir, 'x.csv')])).rejects.toThrow(UsageError);
  });
});

describe('embedding tables against device limits', () => {
  const config = (vocabulary: number) =>
    ple({ inputDim: 4, tasks: [{ name: 'y', type: 'binary' }], levels: 1, taskExperts: 1, sharedExperts: 1, expertWidths: [8], towerWidths: [4], embeddings: [{ name: 'user', vocabulary, dim: 8 }, { name: 'item', vocabulary: 100, dim: 8 }] });
  const limits = { maxStorageBufferBindingSize: 1 << 20, maxBufferSize: 1 << 22 };

  it('names the largest table and the most rows it can have; that many rows fit and one more does not', () => {
    expect(() => checkEmbeddingTables(config(1000), limits)).not.toThrow();
    const e = thrownBy(LimitError, () => checkEmbeddingTables(config(1_000_000), limits));
    expect(e.limit).toBe('maxStorageBufferBindingSize');
    const m = /"user" \(1000000 rows x 8\).*has (\d+) rows \(e\.g\. --hash user:(\d+)/.exec(e.message);
    expect(m, e.message).not.toBeNull();
    const rows = Number(m![1]);
    expect(() => checkEmbeddingTables(config(rows), limits)).not.toThrow();
    expect(() => checkEmbeddingTables(config(rows + 1), limits)).toThrow(LimitError);
  });
});

