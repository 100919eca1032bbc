/**
 * `npm start -- predict`: scores a CSV file (encoded with the checkpoint's own encoder) or the
 * synthetic benchmark's test split with a checkpoint, chunk by chunk, and writes one prediction
 * column per task (plus gate weights and copied-through columns when asked). Prints per-task
 * metrics when the rows have labels.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import Papa from 'papaparse';
import { acquireTrainingDevice } from '../node.js';
import { isCpuDevice } from '../cpu/device.js';
import { readCheckpoint, trainerFromCheckpoint, type Checkpoint } from '../checkpoint/checkpoint.js';
import { readFileBytes } from '../checkpoint/atomic-file.js';
import { SyntheticTasks } from '../data/synthetic.js';
import { readCsvChunks } from '../serving/csv-chunks.js';
import { CsvEncoding, encoderOfCheckpoint, formatMetrics, Predictor, type EncodedChunk } from '../serving/predict.js';
import { cpuDeviceOptions, deviceChoice, int, parseCommand, UsageError } from './args.js';
import { NO_SCALING, targetScalingFromJSON, type TargetScaling } from '../data/targets.js';

/** The regression target scaling the checkpoint was trained with (none in older checkpoints). */
export function targetsOf(ckpt: Checkpoint, source: string): TargetScaling {
  const t = (ckpt.training as { targets?: unknown } | undefined)?.targets;
  return t === undefined ? NO_SCALING : targetScalingFromJSON(t, source);
}

export const predictUsage = `Usage: npm start -- predict --checkpoint FILE --out FILE [flags]

Scores rows with a checkpoint, a chunk at a time (a file larger than memory is fine), and writes
a CSV with one column per task: the probability for binary tasks, the value for regression tasks.
Prints per-task metrics (AUC and log loss, or MSE) when the rows have labels.

  --checkpoint FILE     a checkpoint written by npm start (safetensors)
  --out FILE            the predictions (CSV); replaced only once scoring has succeeded
  --data NAME           csv | synthetic                                    (default csv)
  --test FILE           csv: the file to score, encoded with the checkpoint's own encoder
                        (input columns by name, any order; label columns optional)
  --keep C,..           csv: columns copied to the output first (ids)
  --rows N              synthetic: rows of the benchmark's test split     (default 4096)
  --correlation P       synthetic: the task correlation it was trained on (default 0.5)
  --seed N              synthetic: data seed (default: the seed its run generated the data with)
  --gates               add each gate's weights: column level<j>.<gate>.gate.expert<e>
  --chunk-rows N        rows read, encoded and scored at a time           (default 8192)
  --batch-size N        rows per forward pass                              (default 512)
  --device D            auto | gpu | cpu, as for training                  (default auto)
  --threads N           the CPU device's threads, as for training (default: the host's cores)
  -h, --help            this text
`;

const options = {
  checkpoint: { type: 'string' },
  out: { type: 'string' },
  data: { type: 'string', default: 'csv' },
  test: { type: 'string' },
  keep: { type: 'string' },
  rows: { type: 'string', default: '4096' },
  correlation: { type: 'string', default: '0.5' },
  seed: { type: 'string' },
  gates: { type: 'boolean', default: false },
  'chunk-rows': { type: 'string', default: '8192' },
  'batch-size': { type: 'string', default: '512' },
  device: { type: 'string', default: 'auto' },
  threads: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Block size of the synthetic source: the same blocks as syntheticDataset's, so the rows are a training run's test split. */
const SYNTHETIC_BLOCK = 1024;

export async function predictMain(argv: string[]): Promise<void> {
  const flags = parseCommand('predict', argv, options, predictUsage, { checkpoint: 'FILE', out: 'FILE' });
  if (!flags) return;
  const chunkRows = int(flags, 'chunk-rows', 1);
  const batchSize = int(flags, 'batch-size', 1);
  const keep = flags.keep ? flags.keep.split(',').map((s) => s.trim()).filter((s) => s !== '') : [];
  if (flags.data !== 'csv' && flags.data !== 'synthetic') throw new UsageError(`--data must be csv or synthetic, got ${JSON.stringify(flags.data)}`);
  if (flags.data === 'csv' && !flags.test) throw new UsageError('predict --data csv needs --test FILE');
  if (flags.data === 'synthetic' && keep.length) throw new UsageError('--keep needs --data csv (the synthetic benchmark has no columns to keep)');

  const ckpt = readCheckpoint(await readFileBytes(flags.checkpoint), flags.checkpoint);
  const targets = targetsOf(ckpt, flags.checkpoint);
  // Everything about the input is checked before the GPU work starts.
  const encoder = flags.data === 'csv' ? encoderOfCheckpoint(ckpt.data, flags.checkpoint) : null;
  const synthetic = flags.data === 'synthetic' ? syntheticSource(ckpt, flags) : null;

  const { device: ctx } = await acquireTrainingDevice(deviceChoice(flags), {}, cpuDeviceOptions(flags));
  const trainer = await trainerFromCheckpoint(ctx, ckpt, { batchSize }, flags.checkpoint);
  const tmp = `${flags.out}.tmp-${process.pid}`;
  const out = createWriteStream(tmp);
  let writeError: Error | null = null;
  out.on('error', (e) => (writeError ??= e));
  const write = async (rows: (string | number)[][]) => {
    if (writeError) throw writeError;
    if (rows.length && !out.write(Papa.unparse(rows, { newline: '\n' }) + '\n')) await once(out, 'drain');
  };
  let rowsScored = 0;
  let predictor: Predictor | null = null;
  const scoreChunk = async (chunk: EncodedChunk) => {
    await write(await predictor!.score(chunk));
    rowsScored += chunk.rows;
  };
  try {
    if (encoder) {
      let encoding: CsvEncoding | null = null;
      await readCsvChunks(
        createReadStream(flags.test!),
        flags.test!,
        chunkRows,
        (header) => {
          encoding = new CsvEncoding(encoder, ckpt.config, header, flags.test!, keep);
          predictor = new Predictor(trainer, { gates: flags.gates, keep, targets });
          out.write(Papa.unparse([predictor.columns], { newline: '\n' }) + '\n'); // small: no need to wait for a drain
        },
        (chunk) => scoreChunk(encoding!.encode(chunk)),
      );
    } else {
      predictor = new Predictor(trainer, { gates: flags.gates, targets });
      await write([predictor.columns]);
      for (const chunk of synthetic!.chunks(chunkRows)) await scoreChunk(chunk);
    }
    out.end();
    await once(out, 'close');
    if (writeError) throw writeError;
    await rename(tmp, flags.out);
  } catch (e) {
    if (!out.closed) {
      const closed = new Promise((done) => out.once('close', done)); // not events.once: a pending write's error must not replace e
      out.destroy();
      await closed;
    }
    await rm(tmp, { force: true });
    throw e;
  } finally {
    trainer.destroy();
    if (!isCpuDevice(ctx)) ctx.device.destroy();
  }
  const log = (s: string) => process.stdout.write(s + '\n');
  log(`scored ${rowsScored} rows of ${flags.data === 'csv' ? flags.test : synthetic!.name} with ${flags.checkpoint}`);
  const metrics = predictor!.metrics();
  if (metrics) for (const [task, m] of Object.entries(metrics)) log(`  ${task}: ${formatMetrics(m)} over ${m.count} labelled rows`);
  log(`wrote ${flags.out}`);
}

/** The synthetic benchmark's test split, in the shape of the checkpoint's model. */
function syntheticSource(ckpt: Checkpoint, flags: { rows?: string; correlation?: string; seed?: string }) {
  const correlation = Number(flags.correlation);
  if (flags.correlation?.trim() === '' || !(correlation >= -1 && correlation <= 1)) throw new UsageError(`--correlation must be in [-1, 1], got ${JSON.stringify(flags.correlation)}`);
  const rows = int(flags, 'rows', 1);
  const trainedSeed = ckpt.data?.kind === 'synthetic' ? ckpt.data.options.seed : undefined;
  const seed = flags.seed !== undefined ? int(flags, 'seed', 0) : trainedSeed ?? 1;
  const c = ckpt.config;
  const binary = c.tasks.every((t) => t.type === 'binary');
  if (c.embeddings.length > 0 || c.inputDim < 2) throw new UsageError(`--data synthetic: the checkpoint's model reads ${c.inputDim} dense inputs${c.embeddings.length ? ' and embeddings' : ''}; it was not trained on the synthetic benchmark`);
  const gen = new SyntheticTasks({ inputDim: c.inputDim, correlation, seed, binary });
  // A single-task model scores one of the benchmark's two tasks.
  const taskOf = c.tasks.map((t) => gen.tasks.findIndex((g) => g.name === t.name && g.type === t.type));
  const missing = c.tasks.find((_, k) => taskOf[k] < 0);
  if (missing) throw new UsageError(`--data synthetic: the checkpoint's task "${missing.name}" (${missing.type}) is not a task of the synthetic benchmark (${gen.tasks.map((t) => `${t.name} (${t.type})`).join(', ')})`);
  const K = c.tasks.length;
  return {
    name: `the synthetic test split (p=${correlation}, seed ${seed})`,
    *chunks(chunkRows: number): Generator<EncodedChunk> {
      // Whole blocks of the generator, grouped into chunks of about chunkRows rows.
      const perChunk = Math.max(1, Math.round(chunkRows / SYNTHETIC_BLOCK));
      for (let start = 0, block = 0; start < rows; ) {
        const parts = [];
        for (let i = 0; i < perChunk && start < rows; i++, block++) {
          const n = Math.min(SYNTHETIC_BLOCK, rows - start);
          parts.push(gen.batch('test', block, n));
          start += n;
        }
        const n = parts.reduce((a, p) => a + p.rows, 0);
        const x = new Float32Array(n * c.inputDim);
        const labels = new Float32Array(n * K);
        let r = 0;
        for (const p of parts) {
          x.set(p.x, r * c.inputDim);
          for (let i = 0; i < p.rows; i++) for (let k = 0; k < K; k++) labels[(r + i) * K + k] = p.labels[i * 2 + taskOf[k]];
          r += p.rows;
        }
        yield { rows: n, x, labels, mask: new Float32Array(n * K).fill(1) };
      }
    },
  };
}
