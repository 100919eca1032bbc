/**
 * `npm run bench:data`: the input pipeline against the training step, and the
 * host memory of streaming. Writes results/data.md.
 *
 *   1. Pipeline rows/s alone: one epoch of batches from a Parquet click log
 *      (read, decode, encode, shuffle buffer, batch) with no training.
 *   2. Training step rows/s: steps on batches already in memory.
 *   3. Peak RSS of one streamed training epoch on a small and a large Parquet file,
 *      each in its own process (it must not grow with the file).
 *
 * Flags: --small N (default 200000), --large N (default 2000000), --batch N (default 4096),
 * --dir DIR for the Parquet files (default out/bench-data; written once), --out FILE;
 * --profile: only 1 and 2, then where the step's time goes per kernel and per op (printed, nothing written).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import os from 'node:os';
import { acquireNodeDevice, formatAdapter } from '../src/node.js';
import { ple } from '../src/config.js';
import { Trainer } from '../src/trainer.js';
import { fit } from '../src/training/fit.js';
import { Clicklog, clicklogSchema } from '../src/data/clicklog.js';
import { writeClicklogParquet } from '../src/data/clicklog-file.js';
import { openRowSource } from '../src/data/files.js';
import { epochBatches, streamDataset } from '../src/data/stream.js';
import type { StreamDataset } from '../src/data/dataset.js';
import type { Batch } from '../src/trainer.js';
import { profileOpsTable, profileStep, profileTable, type StepProfile } from './common.js';
import { sectionOf } from './sections.js';

const args = process.argv.slice(2);
const value = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const sizes = { small: Number(value('--small', '200000')), large: Number(value('--large', '2000000')), batch: Number(value('--batch', '4096')), shuffleBuffer: 65536 };
const dir = value('--dir', join('out', 'bench-data'));
const schema = clicklogSchema({ userBuckets: 4096, itemBuckets: 1024, embeddingDim: 8 });

async function dataOf(file: string): Promise<StreamDataset> {
  const source = await openRowSource(file);
  // Every row trains: the split pass is the encoder's statistics pass.
  return (await streamDataset({ schema, train: source, test: source, validationFraction: 0, seed: 1 })).dataset;
}

/** The device npm start trains on (src/cli/main.ts): robustness off, a third of a step on SwiftShader. */
const CLI_DEVICE = { robustness: false };

const modelOf = (d: StreamDataset) => ple({ inputDim: d.inputDim, embeddings: d.embeddings, tasks: d.tasks, levels: 2, taskExperts: 1, sharedExperts: 2, expertWidths: [16], towerWidths: [8] });

/** Child mode: one streamed training epoch on a file; prints rows, seconds and peak RSS as JSON. */
async function epochChild(file: string): Promise<void> {
  // Peaks of V8's heap and of the memory outside it (typed arrays, Dawn's buffers), sampled while training.
  const peak = { heapUsed: 0, heapTotal: 0, external: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    peak.heapTotal = Math.max(peak.heapTotal, m.heapTotal);
    peak.external = Math.max(peak.external, m.external);
  };
  const sampler = setInterval(sample, 250);
  const data = await dataOf(file);
  const ctx = await acquireNodeDevice(CLI_DEVICE);
  const trainer = await Trainer.create(ctx, modelOf(data), { batchSize: sizes.batch, seed: 1 });
  const started = performance.now();
  // Memory against rows trained, on stderr every 16 steps: whether it grows with the file shows long before the end.
  const onProgress = ({ step }: { step: number }) => {
    if (step % 16 !== 0) return;
    const m = process.memoryUsage();
    const MiB = 2 ** 20;
    process.stderr.write(`${JSON.stringify({ rows: step * sizes.batch, seconds: Math.round((performance.now() - started) / 1000), rssMiB: Math.round(m.rss / MiB), maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), heapUsedMiB: Math.round(m.heapUsed / MiB), externalMiB: Math.round(m.external / MiB) })}\n`);
  };
  await fit(trainer, { ...data, validation: undefined }, { epochs: 1, seed: 1, shuffleBuffer: sizes.shuffleBuffer, onProgress });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  sample();
  const MiB = 2 ** 20;
  console.log(JSON.stringify({ rows: data.train.rows, seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024, heapUsedMiB: peak.heapUsed / MiB, heapTotalMiB: peak.heapTotal / MiB, externalMiB: peak.external / MiB }));
  trainer.destroy();
  ctx.device.destroy();
}

/** The profile's per-kernel table and the weight-gradient GEMMs' share (each reduces over the whole batch). */
function profileLines(p: StepProfile): string[] {
  const dW = p.ops.filter((o) => o.label.endsWith('.dW')).reduce((a, o) => a + o.ms, 0);
  return [`weight-gradient GEMMs (dW) ${dW.toFixed(0)} ms = ${((100 * dW) / p.totalMs).toFixed(0)}% of the ops' time.`, '', profileTable(p)];
}

async function ensureFile(rows: number): Promise<string> {
  const file = join(dir, `clicklog-${rows}.parquet`);
  if (!existsSync(file)) {
    await mkdir(dir, { recursive: true });
    await writeClicklogParquet(new Clicklog({ rows, seed: 1 }), file);
  }
  return file;
}

async function main(): Promise<void> {
  const small = await ensureFile(sizes.small);
  const large = await ensureFile(sizes.large);

  // 1. The pipeline alone.
  const data = await dataOf(small);
  let t0 = performance.now();
  let rows = 0;
  const kept: Batch[] = [];
  for await (const b of epochBatches(data.train, data.inputDim, data.tasks.length, sizes.batch, { seed: 1, shuffleBuffer: sizes.shuffleBuffer })) {
    rows += b.rows;
    if (kept.length < 8) kept.push({ ...b, x: Float32Array.from(b.x), labels: Float32Array.from(b.labels), mask: Float32Array.from(b.mask!), categorical: Int32Array.from(b.categorical!) });
  }
  const pipelineRate = rows / ((performance.now() - t0) / 1000);

  // 2. The training step alone, on batches in memory (two in flight, as fit runs them).
  const ctx = await acquireNodeDevice(CLI_DEVICE);
  const trainer = await Trainer.create(ctx, modelOf(data), { batchSize: sizes.batch, seed: 1 });
  for (let i = 0; i < 3; i++) await trainer.step(kept[i % kept.length]);
  const steps = 12;
  t0 = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < steps; i++) {
    inFlight.push(trainer.step(kept[i % kept.length]));
    if (inFlight.length >= 2) await inFlight.shift();
  }
  await Promise.all(inFlight);
  const stepRate = (steps * sizes.batch) / ((performance.now() - t0) / 1000);
  const profile = await profileStep(ctx, trainer, 1);
  trainer.destroy();
  ctx.device.destroy();
  if (args.includes('--profile')) {
    const rates = `input pipeline alone ${Math.round(pipelineRate)} rows/s; training step alone ${Math.round(stepRate)} rows/s (${((sizes.batch / stepRate) * 1000).toFixed(0)} ms per step)`;
    console.log([rates, ...profileLines(profile), '', profileOpsTable(profile), '', `load average ${os.loadavg()[0].toFixed(1)}`].join('\n'));
    process.exit(0);
  }

  // 3. One epoch per file, each in its own process.
  const epoch = (file: string) => {
    const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--epoch', file, '--batch', String(sizes.batch)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !line.startsWith('{')) throw new Error(`epoch on ${file} failed: ${r.stderr.slice(-2000)}`);
    return JSON.parse(line) as { rows: number; seconds: number; maxRssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number };
  };
  const a = epoch(small);
  const b = epoch(large);
  const growth = b.maxRssMiB / a.maxRssMiB - 1;

  const lines = [
    '# Data pipeline: throughput and memory',
    '',
    `\`npm run bench:data${args.length ? ' -- ' + args.join(' ') : ''}\`: the click log (\`src/data/clicklog.ts\`) written to Parquet (row groups of 65,536 rows),`,
    `user and item IDs hashed into 4096 and 1024 rows of width 8, PLE (2 levels, 1 task + 2 shared experts of 16), batch ${sizes.batch},`,
    `shuffle buffer ${sizes.shuffleBuffer} rows, on the device \`npm start\` trains on (Dawn's robustness off).`,
    '',
    '| measure | value |',
    '|---|---|',
    `| input pipeline alone (read, decode, encode, shuffle, batch) | ${Math.round(pipelineRate).toLocaleString('en-US')} rows/s |`,
    `| training step alone (batches in memory) | ${Math.round(stepRate).toLocaleString('en-US')} rows/s |`,
    `| one epoch on ${a.rows.toLocaleString('en-US')} rows: peak RSS | ${a.maxRssMiB.toFixed(0)} MiB (${a.seconds.toFixed(0)} s) |`,
    `| one epoch on ${b.rows.toLocaleString('en-US')} rows: peak RSS | ${b.maxRssMiB.toFixed(0)} MiB (${b.seconds.toFixed(0)} s) |`,
    `| peak RSS growth, large vs small file | ${(growth * 100).toFixed(1)}% |`,
    `| peak V8 heap used (heap reserved), small / large file | ${a.heapUsedMiB.toFixed(0)} (${a.heapTotalMiB.toFixed(0)}) / ${b.heapUsedMiB.toFixed(0)} (${b.heapTotalMiB.toFixed(0)}) MiB |`,
    `| peak memory outside the V8 heap (typed arrays, buffers), small / large file | ${a.externalMiB.toFixed(0)} / ${b.externalMiB.toFixed(0)} MiB |`,
    '',
    `The pipeline runs ${(pipelineRate / stepRate).toFixed(1)}x the training step's rate, and batches are prepared while the`,
    'steps in flight run, so the step is the bottleneck. Peak RSS holds the process (Node, Dawn, the',
    'software adapter), the chunk being read, the next one being fetched, the shuffle buffer and the',
    'batches; it does not hold the file.',
    '',
    `**Where the step goes** (${profile.method}, one op at a time; sum ${profile.totalMs.toFixed(0)} ms against ${((sizes.batch / stepRate) * 1000).toFixed(0)} ms per step in flight):`,
    ...profileLines(profile),
    '',
    `Adapter: ${formatAdapter((await acquireNodeDevice()).adapter)}; ${os.cpus().length} CPU cores, load average ${os.loadavg()[0].toFixed(1)} at the end`,
    '(the host was shared with other jobs, so rates are noisy; the memory figures are not).',
    '',
  ];
  const out = value('--out', join('results', 'data.md'));
  // The page's section of the file is bench/page-data.ts's: kept as it is.
  const page = sectionOf(out, 'page-data');
  await writeFile(out, lines.join('\n') + (page ? `\n${page}\n` : ''));
  console.log(lines.join('\n'));
  console.log(`wrote ${out}`);
  process.exit(0);
}

if (args[0] === '--epoch') await epochChild(args[1]);
else await main();
