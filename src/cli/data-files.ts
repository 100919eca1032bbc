/**
 * The streamed data sources of the main job: data files of any format
 * (--data file) and the built-in click log (--data clicklog), and writing the
 * click log to Parquet (--write).
 */
import { openRowSource } from '../data/files.js';
import { streamDataset } from '../data/stream.js';
import { Clicklog, clicklogSchema } from '../data/clicklog.js';
import { writeClicklogParquet } from '../data/clicklog-file.js';
import type { StreamDataset } from '../data/dataset.js';
import { TabularEncoder, type TabularSchema } from '../data/tabular.js';
import type { DataState } from '../checkpoint/metadata.js';
import { int, list, num, UsageError, type Flags } from './args.js';

/** --hash, --min-count, --max-vocab and --negative-if-missing applied to a schema. */
export function withDataFlags(schema: TabularSchema, flags: Flags): TabularSchema {
  const hashed = new Map<string, number>();
  for (const spec of flags.hash ?? []) {
    const m = /^(.+):(\d+)$/.exec(spec);
    if (!m || Number(m[2]) < 2) throw new UsageError(`--hash must look like COLUMN:BUCKETS with BUCKETS >= 2, got ${JSON.stringify(spec)}`);
    hashed.set(m[1], Number(m[2]));
  }
  const categorical = (schema.categorical ?? []).map((c) => (hashed.has(c.column) ? { ...c, encoding: 'embedding' as const, hashBuckets: hashed.get(c.column) } : c));
  for (const column of hashed.keys()) {
    if (!categorical.some((c) => c.column === column)) categorical.push({ column, encoding: 'embedding', hashBuckets: hashed.get(column) });
  }
  const negatives = new Set(list(flags, 'negative-if-missing'));
  for (const t of negatives) {
    if (!schema.labels.some((l) => (l.task ?? l.column) === t)) throw new UsageError(`--negative-if-missing names ${t}, which is not a task (${schema.labels.map((l) => l.task ?? l.column).join(', ')})`);
  }
  return {
    ...schema,
    labels: schema.labels.map((l) => (negatives.has(l.task ?? l.column) ? { ...l, missingAs: 0 } : l)),
    categorical,
    minCount: int(flags, 'min-count', 1),
    maxVocab: flags['max-vocab'] === undefined ? undefined : int(flags, 'max-vocab', 1),
  };
}

function clicklogOf(flags: Flags): Clicklog {
  return new Clicklog({ rows: int(flags, 'rows', 1), seed: int(flags, 'seed', 0), taskCorrelation: num(flags, 'correlation', (p) => p >= -1 && p <= 1, 'in [-1, 1]') });
}

/** --data file or clicklog: one streaming pass fits the encoder; training and evaluation stream. */
export async function loadStreamed(flags: Flags, fileSchema: () => TabularSchema, resumed?: DataState): Promise<{ dataset: StreamDataset; data: DataState }> {
  const validationFraction = num(flags, 'validation', (x) => x >= 0 && x < 1, 'in [0, 1)');
  const seed = int(flags, 'seed', 0);
  const kind = flags.data === 'clicklog' ? 'clicklog' : 'file';
  // A resumed run encodes with the encoder its checkpoint fitted, never a new one.
  if (resumed && (resumed.kind !== kind || !resumed.encoder)) throw new UsageError(`--resume: the checkpoint does not hold the encoder of a --data ${kind} run (metadata data.kind ${JSON.stringify(resumed.kind)})`);
  const encoder = resumed?.kind === kind && resumed.encoder ? TabularEncoder.fromJSON(resumed.encoder) : undefined;
  if (kind === 'clicklog') {
    const schema = withDataFlags(clicklogSchema(), flags);
    const r = await streamDataset({ schema, train: clicklogOf(flags).source(), validationFraction, seed, encoder });
    return { dataset: r.dataset, data: { kind, source: 'clicklog', schema, validationFraction, seed, encoder: r.encoder.toJSON() } };
  }
  if (!flags.train) throw new UsageError('--data file needs --train FILE');
  const schema = withDataFlags(fileSchema(), flags);
  const r = await streamDataset({
    schema,
    train: await openRowSource(flags.train),
    test: flags.test ? await openRowSource(flags.test) : undefined,
    validationFraction,
    seed,
    encoder,
  });
  return { dataset: r.dataset, data: { kind, source: flags.train, schema, validationFraction, seed, encoder: r.encoder.toJSON() } };
}

/** --data clicklog --write FILE: writes the log and says where. */
export async function writeClicklog(flags: Flags, log: (s: string) => void): Promise<void> {
  if (flags.data !== 'clicklog') throw new UsageError('--write needs --data clicklog');
  const file = flags.write!;
  if (!file.toLowerCase().endsWith('.parquet')) throw new UsageError(`--write needs a .parquet file name, got ${JSON.stringify(file)}`);
  const clicklog = clicklogOf(flags);
  await writeClicklogParquet(clicklog, file);
  log(`wrote ${clicklog.o.rows} rows of the click log (seed ${clicklog.o.seed}) to ${file}`);
}
