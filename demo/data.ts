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

/** Reads a picked CSV file; parseCsv says so when it is not text or not comma-separated. */
export async function readCsvFile(file: File): Promise<CsvFile> {
  const text = await file.text();
  return { text, source: file.name, parsed: parseCsv(text, file.name) };
}

