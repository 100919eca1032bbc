/**
 * The main job (`npm start`): trains a model on the best adapter Node can get,
 * shows progress and a per-epoch metrics table, and writes metrics.json and
 * checkpoint.safetensors to the output folder.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { acquireTrainingDevice } from '../node.js';
import type { GpuContext } from '../gpu/context.js';
import { isCpuDevice } from '../cpu/device.js';
import { gemmTuningFor, type GemmTuning, type GemmTuningChooser } from '../kernels/batched_gemm.js';
import { TuningCache, tuneGemmPerDispatchForModel, tuningKey } from '../tuning.js';
import { ConfigError, type ModelConfig } from '../config.js';
import { datasetForConfig, familyConfig, isModelFamily, FAMILY_CHOICES, type FamilyOptions } from '../family.js';
import { Trainer } from '../trainer.js';
import { parameterCount } from '../spec.js';
import { fit, type EpochReport, type EpochState } from '../training/fit.js';
import { evaluate } from '../training/evaluate.js';
import { csvDataset, syntheticDataset, adultSchema } from '../data/sources.js';
import type { Dataset, StreamDataset } from '../data/dataset.js';
import { loadStreamed, withDataFlags, writeClicklog } from './data-files.js';
import { epochInTargetUnits, fitTargetScaling, NO_SCALING, reportInTargetUnits, scaleStreamTargets, scaleTargets, streamTargetScaling, targetScalingFromJSON, type TargetScaling } from '../data/targets.js';
import { checkEmbeddingTables } from '../data/table-limits.js';
import { TabularEncoder, type LabelRole, type TabularSchema } from '../data/tabular.js';
import type { OptimizerConfig } from '../config.js';
import { checkpointBytes, readCheckpoint, loadCheckpoint, type Checkpoint } from '../checkpoint/checkpoint.js';
import type { DataState, TrainingState } from '../checkpoint/metadata.js';
import { readFileBytes, writeFileAtomic } from '../checkpoint/atomic-file.js';
import { cpuDeviceOptions, deviceChoice, givenFlags, int, intList, list, num, parseFlags, usage, UsageError, type Flags } from './args.js';
import { resumeFlags, storedFlags } from './resume.js';
import { progressLine, tableHeader, tableRow } from './report.js';
import { predictMain } from './predict.js';
import { exportMain } from './export.js';

/** The data set and how it was made; a resumed run reads its rows with the checkpoint's encoder instead of fitting one. */
async function loadData(flags: Flags, resumed?: DataState): Promise<{ dataset: Dataset | StreamDataset; data: DataState }> {
  const seed = int(flags, 'seed', 0);
  if (flags.data === 'synthetic') {
    const evalRows = int(flags, 'eval-rows', 0);
    const options = {
      inputDim: int(flags, 'input-dim', 2),
      correlation: num(flags, 'correlation', (p) => p >= -1 && p <= 1, 'in [-1, 1]'),
      trainRows: int(flags, 'train-rows', 1),
      validationRows: evalRows,
      testRows: evalRows,
      seed,
      binary: flags.binary,
    };
    return { dataset: syntheticDataset(options), data: { kind: 'synthetic', options } };
  }
  if (flags.data === 'file' || flags.data === 'clicklog') return loadStreamed(flags, () => csvSchema(flags), resumed);
  if (flags.data !== 'csv') throw new UsageError(`--data must be synthetic, csv, file or clicklog, got ${JSON.stringify(flags.data)}`);
  if (!flags.train) throw new UsageError('--data csv needs --train FILE');
  const read = async (file: string) => ({ text: await readFile(file, 'utf8'), source: file });
  const schema = withDataFlags(csvSchema(flags), flags);
  const validationFraction = num(flags, 'validation', (x) => x >= 0 && x < 1, 'in [0, 1)');
  if (resumed && (resumed.kind !== 'csv' || !resumed.encoder)) throw new UsageError('--resume: the checkpoint does not hold the CSV encoder its run fitted (metadata data.encoder)');
  const { dataset, encoder } = csvDataset({
    schema,
    train: await read(flags.train),
    test: flags.test ? await read(flags.test) : undefined,
    validationFraction,
    seed,
    encoder: resumed?.kind === 'csv' && resumed.encoder ? TabularEncoder.fromJSON(resumed.encoder) : undefined,
  });
  return { dataset, data: { kind: 'csv', source: resolve(flags.train), schema, validationFraction, seed, encoder: encoder.toJSON() } };
}

function csvSchema(flags: Flags): TabularSchema {
  return dropColumns(roleSchema(flags), list(flags, 'drop-columns'));
}

/** The schema without the named input columns; naming a label or a column the schema does not read is an error. */
function dropColumns(schema: TabularSchema, drop: string[]): TabularSchema {
  const inputs = [...(schema.numeric ?? []), ...(schema.categorical ?? [])].map((c) => c.column);
  for (const column of drop) {
    if (schema.labels.some((l) => l.column === column)) throw new UsageError(`--drop-columns ${column}: "${column}" is a label column, not an input`);
    if (!inputs.includes(column)) throw new UsageError(`--drop-columns ${column}: "${column}" is not an input column; the inputs are ${inputs.join(', ')}`);
  }
  const keep = <T extends { column: string }>(roles: T[] | undefined) => roles?.filter((r) => !drop.includes(r.column));
  return { ...schema, numeric: keep(schema.numeric), categorical: keep(schema.categorical) };
}

function roleSchema(flags: Flags): TabularSchema {
  const encoding = flags['categorical-encoding'];
  if (encoding !== 'onehot' && encoding !== 'embedding') throw new UsageError(`--categorical-encoding must be onehot or embedding, got ${JSON.stringify(encoding)}`);
  if (flags.preset === 'adult') return adultSchema(encoding);
  if (flags.preset) throw new UsageError(`--preset must be adult, got ${JSON.stringify(flags.preset)}`);
  const labels: LabelRole[] = (flags.label ?? []).map((spec) => {
    const m = /^([^=]+)=([^:]+):(binary|threshold|regression)(?::(.*))?$/.exec(spec);
    if (!m) throw new UsageError(`--label must look like TASK=COLUMN:binary:VALUE, TASK=COLUMN:threshold:X or TASK=COLUMN:regression, got ${JSON.stringify(spec)}`);
    const [, task, column, kind, arg] = m;
    if (kind === 'regression') return { task, column, type: 'regression' };
    if (arg === undefined || arg === '') throw new UsageError(`--label ${spec}: ${kind} needs a value after the last colon`);
    if (kind === 'threshold') {
      const threshold = Number(arg);
      if (!Number.isFinite(threshold)) throw new UsageError(`--label ${spec}: the threshold must be a number`);
      return { task, column, type: 'binary', threshold };
    }
    return { task, column, type: 'binary', positive: arg.split('|') };
  });
  if (labels.length === 0) throw new UsageError('--data csv needs at least one --label (or --preset adult)');
  const log1p = new Set(list(flags, 'log1p'));
  return {
    labels,
    numeric: list(flags, 'numeric').map((column) => ({ column, log1p: log1p.has(column) })),
    categorical: list(flags, 'categorical').map((column) => ({ column, encoding })),
  };
}

/** The model family and its options from the flags (the switch itself is src/family.ts). */
function familyOptions(flags: Flags): FamilyOptions {
  const family = flags.model;
  if (!isModelFamily(family)) throw new UsageError(`--model must be ${FAMILY_CHOICES}, got ${JSON.stringify(family)}`);
  const common = { family, expertWidths: intList(flags, 'expert-widths'), towerWidths: intList(flags, 'tower-widths'), gateBias: flags['gate-bias'], uncertaintyWeighting: flags.uncertainty };
  switch (family) {
    case 'ple':
      return { ...common, levels: int(flags, 'levels', 1), taskExperts: int(flags, 'task-experts', 0), sharedExperts: int(flags, 'shared-experts', 0) };
    case 'cgc':
      return { ...common, taskExperts: int(flags, 'task-experts', 0), sharedExperts: int(flags, 'shared-experts', 0) };
    case 'mmoe':
      return { ...common, experts: int(flags, 'experts', 1) };
    case 'single-task':
      return { ...common, task: flags.task };
    default:
      return common;
  }
}

function modelConfig(model: FamilyOptions, dataset: Dataset | StreamDataset): ModelConfig {
  try {
    return familyConfig(model, dataset);
  } catch (e) {
    // The flag that set it: --task for single-task's task.
    if (e instanceof ConfigError && e.field === 'task') throw new UsageError(`--task ${model.task} is not a task of the data (${dataset.tasks.map((t) => t.name).join(', ')})`);
    throw e;
  }
}

function optimizerConfig(flags: Flags): OptimizerConfig {
  const lr = num(flags, 'lr', (x) => x > 0, 'a positive number');
  const weightDecay = num(flags, 'weight-decay', (x) => x >= 0, 'a number >= 0');
  if (flags.optimizer === 'sgd') return { kind: 'sgd', lr, weightDecay, momentum: num(flags, 'momentum', (x) => x >= 0 && x < 1, 'in [0, 1)') };
  if (flags.optimizer === 'adam' || flags.optimizer === 'adamw') return { kind: flags.optimizer, lr, weightDecay };
  throw new UsageError(`--optimizer must be adam, adamw or sgd, got ${JSON.stringify(flags.optimizer)}`);
}

/**
 * The GEMM variants: each GEMM's fastest or the best single variant for all, whichever ran the step's
 * GEMMs faster together, timed on this adapter once (cached in a file); or the adapter's default.
 */
async function chooseGemmTuning(flags: Flags, ctx: GpuContext, config: ModelConfig, batchSize: number): Promise<{ tuning: GemmTuning | GemmTuningChooser; description: string }> {
  if (flags.tuning === 'adapter') {
    const tuning = gemmTuningFor(ctx.adapter);
    return { tuning, description: `${tuningKey(tuning)} for every GEMM (the adapter's default; tile rows x columns / workgroup)` };
  }
  if (flags.tuning !== 'tune') throw new UsageError(`--tuning must be tune or adapter, got ${JSON.stringify(flags.tuning)}`);
  const file = join('out', 'gemm-tuning.json');
  let cache = new TuningCache();
  if (existsSync(file)) {
    try {
      cache = TuningCache.fromJSON(JSON.parse(await readFile(file, 'utf8')));
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message} (delete the file to tune again)`);
    }
  }
  const r = await tuneGemmPerDispatchForModel(ctx, config, batchSize, { cache });
  if (!r.fromCache) {
    await mkdir('out', { recursive: true });
    await writeFile(file, JSON.stringify(cache.toJSON(), null, 1) + '\n');
  }
  const set = `the fastest variant per GEMM (${[...new Set([...r.tunings.values()].map(tuningKey))].join(', ')})`;
  const single = `${tuningKey(r.single)} for every GEMM`;
  const rate = (x: number) => `${x.toFixed(2)} GFLOP/s`;
  const where = r.fromCache ? `cached in ${file}` : 'timed on this adapter';
  const description = r.winner === 'perDispatch'
    ? `${set}: ${rate(r.perDispatchGflops)} over the step's GEMMs, against ${rate(r.singleGflops)} with ${single} (the best single variant); tile rows x columns / workgroup, ${where}`
    : `${single} (the best single variant): ${rate(r.singleGflops)} over the step's GEMMs, against ${rate(r.perDispatchGflops)} with ${set}; tile rows x columns / workgroup, ${where}`;
  return { tuning: r.choose, description };
}

/** The checkpoint to resume and the run's flags restored from it. */
async function resumeFrom(argv: string[], flags: Flags): Promise<{ flags: Flags; ckpt?: Checkpoint; training?: TrainingState }> {
  if (!flags.resume) return { flags };
  const source = flags.resume;
  const ckpt = readCheckpoint(await readFileBytes(source), source);
  const training = ckpt.training;
  if (!training?.flags) throw new UsageError(`--resume ${source}: the checkpoint holds no npm start settings (metadata training.flags); it was not written by npm start`);
  return { flags: resumeFlags(flags, givenFlags(argv), training.flags, source), ckpt, training };
}

export async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'predict') return predictMain(argv.slice(1));
  if (argv[0] === 'export') return exportMain(argv.slice(1));
  const parsed = parseFlags(argv);
  if (parsed.help) {
    process.stdout.write(usage);
    return;
  }
  if (parsed.write) return writeClicklog(parsed, (s) => process.stdout.write(s + '\n'));
  const { flags, ckpt, training } = await resumeFrom(argv, parsed);
  const epochs = int(flags, 'epochs', 1);
  const batchSize = int(flags, 'batch-size', 1);
  const seed = int(flags, 'seed', 0);
  const decay = flags.decay;
  if (decay !== 'constant' && decay !== 'linear' && decay !== 'cosine') throw new UsageError(`--decay must be constant, linear or cosine, got ${JSON.stringify(decay)}`);
  const { dataset: allTasks, data } = await loadData(flags, ckpt?.data);
  const model = familyOptions(flags);
  const config = modelConfig(model, allTasks);
  const dataset = datasetForConfig(allTasks, config);
  const gamma = list(flags, 'task-gamma').map(Number);
  if (gamma.length && (gamma.length !== dataset.tasks.length || gamma.some((g) => !(g > 0)))) {
    throw new UsageError(`--task-gamma needs ${dataset.tasks.length} positive numbers, got ${JSON.stringify(flags['task-gamma'])}`);
  }

  if (flags.tuning !== 'tune' && flags.tuning !== 'adapter') throw new UsageError(`--tuning must be tune or adapter, got ${JSON.stringify(flags.tuning)}`);
  // Only the runtime's own tested kernels run on a WebGPU device here, on inputs validated on the host:
  // Dawn's bounds clamping of every storage access is dropped (about a third of a step on SwiftShader).
  const { device: ctx, description: deviceLine } = await acquireTrainingDevice(deviceChoice(flags), { robustness: false, quietProbe: true }, cpuDeviceOptions(flags));
  if (!isCpuDevice(ctx)) checkEmbeddingTables(config, ctx.limits);
  const out = resolve(flags.out ?? join('out', `run-${new Date().toISOString().replace(/[:.]/g, '-')}`));
  await mkdir(out, { recursive: true });
  const gemmTuning = isCpuDevice(ctx)
    ? { tuning: undefined, description: 'WebAssembly SIMD, 4x8 register tiles (the CPU device; --tuning applies to WebGPU)' }
    : await chooseGemmTuning(flags, ctx, config, batchSize);
  // A resumed run's optimizer is the checkpoint's (kind, hyper-parameters), with the learning rate --lr gives.
  const optimizer: OptimizerConfig = ckpt ? { ...ckpt.optimizer, lr: num(flags, 'lr', (x) => x > 0, 'a positive number') } : optimizerConfig(flags);
  const trainer = await Trainer.create(ctx, config, { batchSize, seed, optimizer, gemmTuning: gemmTuning.tuning });
  const startEpoch = (training?.epoch ?? 0) + 1;
  const history: EpochReport[] = [...(training?.history ?? [])];
  if (ckpt) loadCheckpoint(trainer, ckpt, flags.resume);
  // Regression targets train standardised (training statistics) unless --raw-targets; metrics stay in their units.
  // A resumed run keeps the scaling its checkpoint trained with (none before it was recorded).
  const streamed = 'chunks' in dataset.train;
  const targets: TargetScaling = ckpt
    ? training?.targets === undefined ? NO_SCALING : targetScalingFromJSON(training.targets, flags.resume)
    : flags['raw-targets'] ? NO_SCALING : streamed ? await streamTargetScaling(dataset as StreamDataset) : fitTargetScaling(dataset as Dataset);
  const trainData = streamed ? scaleStreamTargets(dataset as StreamDataset, targets) : scaleTargets(dataset as Dataset, targets);
  const stored = storedFlags(flags);
  const checkpoint = (epoch: number, state: EpochState) =>
    checkpointBytes(trainer, { training: { epoch, history, flags: stored, earlyStopping: state.earlyStopping, model, targets }, data, best: state.bestParams });
  let lastState: EpochState = { earlyStopping: training?.earlyStopping, bestParams: ckpt?.best };

  const log = (s: string) => process.stdout.write(s + '\n');
  log(`device:  ${deviceLine}`);
  log(`data:    ${dataset.name}: ${dataset.train.rows} train, ${dataset.validation?.rows ?? 0} validation, ${dataset.test?.rows ?? 0} test rows, ${dataset.inputDim} inputs`);
  log(`model:   ${flags.model}, ${parameterCount(trainer.spec)} parameters, tasks ${dataset.tasks.map((t) => `${t.name} (${t.type})`).join(', ')}`);
  log(`gemm:    ${gemmTuning.description}`);
  log(`output:  ${out}\n`);
  log(tableHeader(dataset.tasks));
  const tty = process.stderr.isTTY && !flags.quiet;
  let lastDraw = 0;
  const result = await fit(trainer, trainData, {
    epochs,
    startEpoch,
    decay,
    warmupSteps: int(flags, 'warmup', 0),
    clipNorm: num(flags, 'clip', (x) => x >= 0, 'a number >= 0'),
    taskGamma: gamma.length ? gamma : undefined,
    earlyStopping: flags['early-stopping'] ? { metric: flags['early-stopping'], patience: int(flags, 'patience', 1) } : undefined,
    earlyStoppingState: lastState.earlyStopping && { state: lastState.earlyStopping, bestParams: lastState.bestParams },
    seed,
    shuffleBuffer: int(flags, 'shuffle-buffer', 1),
    onProgress: (p) => {
      const now = Date.now();
      if (flags.quiet || (now - lastDraw < 200 && p.step < p.stepsPerEpoch)) return;
      lastDraw = now;
      const line = progressLine(p.epoch, epochs, p.step, p.stepsPerEpoch, p.loss);
      process.stderr.write(tty ? `\r${line}` : `${line}\n`);
    },
    onEpoch: async (scaled, state) => {
      const report = epochInTargetUnits(scaled, targets);
      if (tty) process.stderr.write('\r\x1b[2K');
      log(tableRow(dataset.tasks, report));
      history.push(report);
      lastState = state;
      // A checkpoint after every epoch: an interrupted run keeps its progress.
      await writeFileAtomic(join(out, 'checkpoint.safetensors'), await checkpoint(report.epoch, state));
    },
  });
  const test = trainData.test ? reportInTargetUnits(await evaluate(trainer, trainData.test, dataset.tasks), targets) : undefined;
  if (test) {
    log('\ntest:');
    for (const t of dataset.tasks) {
      const m = test.tasks[t.name];
      log(`  ${t.name}: ${t.type === 'binary' ? `AUC ${m.auc?.toFixed(4)}, log loss ${m.logLoss?.toFixed(4)}` : `MSE ${m.mse?.toFixed(4)}`} over ${m.count} labelled rows`);
    }
  }
  const epochsRun = history.length ? history[history.length - 1].epoch : 0;
  await writeFileAtomic(join(out, 'checkpoint.safetensors'), await checkpoint(epochsRun, lastState));
  const metrics = {
    command: `npm start -- ${argv.join(' ')}`.trim(),
    device: isCpuDevice(ctx) ? { kind: 'cpu', threads: ctx.threads } : { kind: 'webgpu', adapter: ctx.adapter },
    data: dataset.name,
    model: config,
    targets,
    parameters: parameterCount(trainer.spec),
    epochs: history,
    best: result.best,
    stoppedEarly: result.stoppedEarly,
    test,
  };
  await writeFile(join(out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  log(`\nwrote ${join(out, 'metrics.json')}`);
  log(`wrote ${join(out, 'checkpoint.safetensors')}`);
  trainer.destroy();
  if (!isCpuDevice(ctx)) ctx.device.destroy();
}
