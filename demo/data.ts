/**
 * The page's data: how a data set was made (stored in checkpoints so a run can be continued;
 * never the data itself), building it, and reading picked files with errors that say what is
 * wrong with them (not text, another delimiter, not Parquet or Arrow, not a safetensors file).
 * A CSV file is read whole; a Parquet or Arrow file is streamed in chunks through the library's
 * row sources (src/data/browser-files.ts), with the same encoder and shuffle buffer as Node.
 */
import { csvDataset, parseCsv, syntheticDataset, TabularEncoder, type Dataset, type ParsedCsv, type SyntheticDatasetOptions, type TabularEncoderJSON, type TabularSchema } from '../src/index.js';
import { openBlobSource } from '../src/data/browser-files.js';
import { formatOf } from '../src/data/formats.js';
import { streamDataset } from '../src/data/stream.js';
import { isStreamSplit, type Split, type StreamDataset, type StreamSplit } from '../src/data/dataset.js';
import type { ColumnKind, RowSource } from '../src/data/rows.js';

export type DataDescriptor =
  | { kind: 'synthetic'; options: SyntheticDatasetOptions }
  | { kind: 'csv'; source: string; schema: TabularSchema; validationFraction: number; seed: number }
  /** A streamed Parquet or Arrow file; `encoder`: the one a checkpoint's run fitted, used as it is. */
  | { kind: 'file'; source: string; schema: TabularSchema; validationFraction: number; seed: number; shuffleBuffer: number; encoder?: TabularEncoderJSON };

/** A CSV file read in this tab (whole). */
export interface CsvFile {
  format: 'csv';
  text: string;
  source: string;
  parsed: ParsedCsv;
}

/** A Parquet or Arrow file picked in this tab: read in chunks when a pass needs it; only its first rows are kept, for the role picker. */
export interface TableFile {
  format: 'parquet' | 'arrow';
  source: string;
  rows: RowSource;
  /** The first rows as text (at most SAMPLE_ROWS), for the role picker. */
  sample: ParsedCsv;
  kinds: Map<string, ColumnKind>;
}

export type DataFile = CsvFile | TableFile;

/** Rows of a Parquet or Arrow file the role picker shows and guesses from. */
export const SAMPLE_ROWS = 1000;

/** The demo's own descriptor from a checkpoint's `data` (the CLI stores a tabular encoder there instead). */
export function descriptorOf(raw: unknown): DataDescriptor | null {
  const d = raw as { kind?: unknown } | null | undefined;
  return d && (d.kind === 'synthetic' || d.kind === 'csv' || d.kind === 'file') ? (d as DataDescriptor) : null;
}

/** A short name of the data for run labels, e.g. "synthetic, correlation 0.5" or "sales.csv". */
export function dataName(d: DataDescriptor): string {
  return d.kind === 'synthetic' ? `synthetic, correlation ${d.options.correlation}${d.options.binary ? ', binary' : ''}` : d.source;
}

/** Runs compare on the seesaw only when their data is the same (the rows may differ in number). */
export function dataKey(d: DataDescriptor): string {
  if (d.kind === 'synthetic') return JSON.stringify(['synthetic', d.options.inputDim, d.options.correlation, d.options.seed, Boolean(d.options.binary)]);
  return JSON.stringify(['csv', d.source, d.schema.labels]);
}

/** What a descriptor builds: the data set (in memory, or streamed from a Parquet/Arrow file) and its tabular encoder (null for synthetic data). */
export interface BuiltData {
  dataset: Dataset | StreamDataset;
  encoder: TabularEncoder | null;
}

/** The data set a descriptor makes; a file one needs its file picked. A Parquet/Arrow file takes one streaming pass here (the encoder's fit, the split counts). */
export async function buildData(d: DataDescriptor, file: DataFile | null): Promise<BuiltData> {
  if (d.kind === 'synthetic') return { dataset: syntheticDataset(d.options), encoder: null };
  if (!file || file.source !== d.source || (file.format === 'csv') !== (d.kind === 'csv')) throw new Error(`pick the data file ${d.source} first (it is read in this tab, not uploaded)`);
  if (file.format === 'csv') return csvDataset({ schema: d.schema, train: { text: file.text, source: file.source }, validationFraction: d.validationFraction, seed: d.seed });
  const encoder = d.kind === 'file' && d.encoder ? TabularEncoder.fromJSON(d.encoder) : undefined;
  return streamDataset({ schema: d.schema, train: file.rows, validationFraction: d.validationFraction, seed: d.seed, encoder });
}

/** Reads a picked data file by its extension: a CSV file whole, a Parquet or Arrow file's schema and first rows. */
export async function readDataFile(file: File): Promise<DataFile> {
  const format = formatOf(file.name);
  if (format === 'parquet' || format === 'arrow') return readTableFile(file, format);
  return readCsvFile(file);
}

/** A Parquet or Arrow file's columns and its first SAMPLE_ROWS rows as text (a cell that is missing becomes ""). */
async function readTableFile(file: File, format: 'parquet' | 'arrow'): Promise<TableFile> {
  const rows = await openBlobSource(file, file.name);
  const header = rows.columns.map((c) => c.name);
  const kinds = new Map(rows.columns.map((c) => [c.name, c.kind]));
  const sample: string[][] = [];
  const lineOf: number[] = [];
  for await (const chunk of rows.chunks()) {
    const columns = header.map((n) => chunk.column(n));
    for (let i = 0; i < chunk.rows && sample.length < SAMPLE_ROWS; i++) {
      sample.push(columns.map((cells) => cellText(cells?.[i])));
      lineOf.push(chunk.firstRow + i + 1);
    }
    if (sample.length >= SAMPLE_ROWS) break; // the reader is closed: the rest of the file is never read here
  }
  return { format, source: file.name, rows, kinds, sample: { header, rows: sample, lineOf, source: file.name } as ParsedCsv };
}

function cellText(cell: unknown): string {
  if (cell === null || cell === undefined) return '';
  if (typeof cell === 'string' || typeof cell === 'number' || typeof cell === 'bigint' || typeof cell === 'boolean') return String(cell);
  return Array.isArray(cell) || ArrayBuffer.isView(cell) ? '(list)' : '(nested)';
}

/** Reads a picked CSV file; parseCsv says so when it is not text or not comma-separated. */
async function readCsvFile(file: File): Promise<CsvFile> {
  const text = await file.text();
  return { format: 'csv', text, source: file.name, parsed: parseCsv(text, file.name) };
}


/** The first `rows` rows of a split in memory (views of an in-memory split; a stream is read only as far as they go). */
export async function headOf(split: Split | StreamSplit, rows: number, inputDim: number, tasks: number): Promise<Split> {
  const take = (s: Split, n: number): Split => {
    const T = s.categorical ? s.categorical.length / s.rows : 0;
    return { rows: n, x: s.x.subarray(0, n * inputDim), labels: s.labels.subarray(0, n * tasks), mask: s.mask.subarray(0, n * tasks), categorical: s.categorical?.subarray(0, n * T) };
  };
  if (!isStreamSplit(split)) return take(split, Math.min(rows, split.rows));
  const parts: Split[] = [];
  let have = 0;
  for await (const chunk of split.chunks()) {
    parts.push(take(chunk, Math.min(chunk.rows, rows - have)));
    have += parts[parts.length - 1].rows;
    if (have >= rows) break;
  }
  const join = <A extends Float32Array | Int32Array>(arrays: A[], make: (n: number) => A): A => {
    const out = make(arrays.reduce((n, a) => n + a.length, 0));
    let at = 0;
    for (const a of arrays) (out.set(a, at), (at += a.length));
    return out;
  };
  const categorical = parts.every((p) => p.categorical) && parts.length > 0 ? join(parts.map((p) => p.categorical!), (n) => new Int32Array(n)) : undefined;
  return {
    rows: have,
    x: join(parts.map((p) => p.x), (n) => new Float32Array(n)),
    labels: join(parts.map((p) => p.labels), (n) => new Float32Array(n)),
    mask: join(parts.map((p) => p.mask), (n) => new Float32Array(n)),
    categorical,
  };
}
