/**
 * The page's data: how a data set was made (stored in checkpoints so a run can be continued;
 * never the data itself), building it, and reading picked files with errors that say what is
 * wrong with them (not text, another delimiter, not a safetensors file).
 */
import { csvDataset, parseCsv, syntheticDataset, type Dataset, type ParsedCsv, type SyntheticDatasetOptions, type TabularSchema } from '../src/index.js';

export type DataDescriptor =
  | { kind: 'synthetic'; options: SyntheticDatasetOptions }
  | { kind: 'csv'; source: string; schema: TabularSchema; validationFraction: number; seed: number };

/** A CSV file read in this tab. */
export interface CsvFile {
  text: string;
  source: string;
  parsed: ParsedCsv;
}

/** The demo's own descriptor from a checkpoint's `data` (the CLI stores a tabular encoder there instead). */
export function descriptorOf(raw: unknown): DataDescriptor | null {
  const d = raw as { kind?: unknown } | null | undefined;
  return d && (d.kind === 'synthetic' || d.kind === 'csv') ? (d as DataDescriptor) : null;
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

/** The data set a descriptor makes; a CSV one needs its file picked (`csv`). */
export function buildDataset(d: DataDescriptor, csv: CsvFile | null): Dataset {
  if (d.kind === 'synthetic') return syntheticDataset(d.options);
  if (!csv || csv.source !== d.source) throw new Error(`pick the CSV file ${d.source} first (it is read in this tab, not uploaded)`);
  return csvDataset({ schema: d.schema, train: { text: csv.text, source: csv.source }, validationFraction: d.validationFraction, seed: d.seed }).dataset;
}

/** Reads a picked CSV file; says so when it is not text or not comma-separated. */
export async function readCsvFile(file: File): Promise<CsvFile> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const head = bytes.subarray(0, 4096);
  if (head.includes(0)) throw new Error(`${file.name} is not a text file (it holds binary data): pick a CSV file, i.e. text with a header line and comma-separated values`);
  const text = new TextDecoder().decode(bytes);
  const firstLine = text.slice(0, text.search(/\r?\n|$/));
  if (!firstLine.includes(',')) {
    const other = ([[';', 'semicolons'], ['\t', 'tabs'], ['|', 'vertical bars']] as const).find(([c]) => firstLine.includes(c));
    if (other) throw new Error(`${file.name} separates its values with ${other[1]}, not commas: save it as comma-separated values (CSV) and pick it again`);
  }
  const parsed = parseCsv(text, file.name);
  return { text, source: file.name, parsed };
}

/** Checks a picked file's safetensors framing before decoding it, so a wrong file says just that. */
export function checkSafetensorsFraming(bytes: Uint8Array, name: string): void {
  const notOne = `${name} is not a safetensors checkpoint`;
  if (bytes.length < 10) throw new Error(`${notOne} (it has only ${bytes.length} bytes)`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8) || bytes[8] !== 0x7b /* { */) {
    throw new Error(`${notOne}: pick a .safetensors file downloaded from this page or written by npm start`);
  }
}
