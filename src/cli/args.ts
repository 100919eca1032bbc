/** Command-line flags of the main job, their defaults, and --help. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEVICE_CHOICES, type DeviceChoice } from '../device-choice.js';
import type { CpuDeviceOptions } from '../cpu/device.js';
import { MAX_CPU_THREADS } from '../cpu/threads.js';

export const usage = `Usage: npm start -- [flags]

Trains a multi-task model on the GPU (WebGPU through Dawn) or, where the only WebGPU
adapter is a software one or there is none, on the CPU device (--device), and writes
metrics (JSON) and a checkpoint (safetensors) to --out.
Serving: npm start -- predict --help | npm start -- export --help

Model
  --model NAME          ple | cgc | mmoe | shared-bottom | single-task   (default ple)
  --levels N            PLE extraction levels                              (default 2)
  --task-experts N      task-specific experts per task and level          (default 2)
  --shared-experts N    shared experts per level                          (default 2)
  --experts N           MMoE experts                                      (default 4)
  --expert-widths W,..  widths of each expert's layers (bottom for shared-bottom) (default 64)
  --tower-widths W,..   task tower hidden widths                          (default 32)
  --gate-bias           give gates a bias term
  --task NAME           the task single-task trains                       (default: the first)

Data (default: the synthetic benchmark of the MMoE paper, generated in memory)
  --data NAME           synthetic | csv | file | clicklog                  (default synthetic)
                        csv: a CSV file read into memory; file: a .csv, .parquet or
                        .arrow/.feather file streamed in chunks; clicklog: the built-in click log
  --correlation P       synthetic/clicklog: task correlation p in [-1, 1]  (default 0.5)
  --input-dim D         synthetic: input width                             (default 64)
  --train-rows N        synthetic: training rows                          (default 16384)
  --eval-rows N         synthetic: validation and test rows each          (default 4096)
  --binary              synthetic: threshold both tasks into binary ones
  --train FILE          csv/file: training file (.csv with a header line; file: also .parquet, .arrow)
  --test FILE           csv/file: test file; without it the training file is split
  --preset adult        csv: the UCI Adult roles (tasks income and never_married)
  --label T=COL:binary:V1|V2  csv/file: task T is 1 when COL is one of the values (repeatable)
  --label T=COL:threshold:X   csv/file: task T is 1 when COL > X
  --label T=COL:regression    csv/file: task T regresses COL
  --numeric C,..        csv/file: numeric columns (standardised with training statistics)
  --log1p C,..          csv/file: numeric columns to take log1p of first
  --categorical C,..    csv/file: categorical columns (unseen values share a reserved slot/row)
  --categorical-encoding onehot | embedding   csv: one-hot inputs, or learned embedding tables (default onehot)
  --drop-columns C,..   csv/file: input columns (of --preset or the lists above) not to read
  --validation F        csv/file/clicklog: share of training rows held out for validation (default 0.1)
  --raw-targets         train regression tasks on their raw values; by default they are standardised
                        with training statistics (MSE is reported in the target's units either way)
  --hash COL:BUCKETS    csv/file: COL through an embedding table of BUCKETS rows, each value's row
                        its FNV-1a hash (row 0: missing; repeatable; see docs/data.md)
  --min-count N         csv/file: vocabulary values seen fewer times share the unknown row (default 1)
  --max-vocab N         csv/file: keep the N most frequent values per vocabulary (default all)
  --negative-if-missing T,..  a missing label of task T counts as 0 instead of masking the row
  --shuffle-buffer N    file/clicklog: rows in the shuffle buffer of a streamed epoch (default 65536)
  --rows N              clicklog: rows of the log (default 200000)
  --write FILE          clicklog: write the log to FILE (.parquet) and exit

Training
  --epochs N            (default 5)        --batch-size N   (default 512)
  --lr X                (default 0.001)    --optimizer adam | adamw | sgd (default adam)
  --weight-decay X      (default 0; every weight, bias and embedding decays, the --uncertainty
                        log-variances never)  --momentum X  (sgd, default 0.9)
  --warmup N            warm-up steps      --decay constant | linear | cosine (default constant)
  --clip X              clip the global gradient norm (default off)
  --task-gamma G,..     dynamic task weights w_k(t) = w_k gamma_k^epoch
  --uncertainty         learn a log-variance per task weighting its loss (Kendall et al. 2018)
  --early-stopping M    validation metric: loss or <task>.<auc|logLoss|mse>
  --patience N          epochs without improvement before stopping (default 2)
  --seed N              initialisation, shuffling and synthetic data (default 1)
  --device D            auto: WebGPU, or the CPU device (WebAssembly SIMD) where the only WebGPU
                        adapter is a software one or there is none (faster there); gpu: WebGPU
                        on any adapter; cpu: the CPU device (default auto)
  --threads N           the CPU device: threads its GEMMs and element-wise ops split over, 1 to 16
                        (default: the host's cores, at most 16)
  --tuning MODE         WebGPU: tune: time GEMM variants on this adapter once and keep the fastest for each
                        GEMM, or the best single variant for all where that runs the step's GEMMs
                        faster together (cached in out/gemm-tuning.json);
                        adapter: the adapter's default variant for every GEMM (default tune)
  --resume FILE         continue from a checkpoint written by this program: the model, optimizer
                        (kind, hyper-parameters, moments, step), data encoding and split, seed,
                        schedule and early-stopping state all come from the checkpoint; a flag
                        that contradicts it is an error. Only --lr (a new base learning rate),
                        --epochs (the total to reach; a --decay schedule then spans that total),
                        --train/--test (where the files now are),
                        --out, --device, --threads, --tuning and --quiet may differ
  --out DIR             output folder (default out/run-<date>)
  --quiet               no progress bar
  -h, --help            this text
`;

const options = {
  model: { type: 'string', default: 'ple' },
  levels: { type: 'string', default: '2' },
  'task-experts': { type: 'string', default: '2' },
  'shared-experts': { type: 'string', default: '2' },
  experts: { type: 'string', default: '4' },
  'expert-widths': { type: 'string', default: '64' },
  'tower-widths': { type: 'string', default: '32' },
  'gate-bias': { type: 'boolean', default: false },
  task: { type: 'string' },
  data: { type: 'string', default: 'synthetic' },
  correlation: { type: 'string', default: '0.5' },
  'input-dim': { type: 'string', default: '64' },
  'train-rows': { type: 'string', default: '16384' },
  'eval-rows': { type: 'string', default: '4096' },
  binary: { type: 'boolean', default: false },
  train: { type: 'string' },
  test: { type: 'string' },
  preset: { type: 'string' },
  label: { type: 'string', multiple: true },
  numeric: { type: 'string' },
  log1p: { type: 'string' },
  categorical: { type: 'string' },
  'categorical-encoding': { type: 'string', default: 'onehot' },
  hash: { type: 'string', multiple: true },
  'min-count': { type: 'string', default: '1' },
  'max-vocab': { type: 'string' },
  'negative-if-missing': { type: 'string' },
  'shuffle-buffer': { type: 'string', default: '65536' },
  rows: { type: 'string', default: '200000' },
  write: { type: 'string' },
  'drop-columns': { type: 'string' },
  validation: { type: 'string', default: '0.1' },
  'raw-targets': { type: 'boolean', default: false },
  epochs: { type: 'string', default: '5' },
  'batch-size': { type: 'string', default: '512' },
  lr: { type: 'string', default: '0.001' },
  optimizer: { type: 'string', default: 'adam' },
  'weight-decay': { type: 'string', default: '0' },
  momentum: { type: 'string', default: '0.9' },
  warmup: { type: 'string', default: '0' },
  decay: { type: 'string', default: 'constant' },
  clip: { type: 'string', default: '0' },
  'task-gamma': { type: 'string' },
  uncertainty: { type: 'boolean', default: false },
  'early-stopping': { type: 'string' },
  patience: { type: 'string', default: '2' },
  seed: { type: 'string', default: '1' },
  device: { type: 'string', default: 'auto' },
  threads: { type: 'string' },
  tuning: { type: 'string', default: 'tune' },
  resume: { type: 'string' },
  out: { type: 'string' },
  quiet: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Flags = ReturnType<typeof parseFlags>;

export function parseFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The names of the flags the command line sets itself (not by default). */
export function givenFlags(argv: string[]): Set<string> {
  const { tokens } = parseArgs({ args: argv, options, allowPositionals: false, strict: true, tokens: true });
  return new Set(tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : [])));
}

/** Flag values as parseArgs returns them, for the checks below (the main job's or a subcommand's). */
type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** A number flag; the error names the flag. */
export function num<F extends FlagValues>(flags: F, name: keyof F & string, check: (x: number) => boolean = Number.isFinite, rule = 'a number'): number {
  const raw = flags[name];
  const v = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || !check(v)) throw new UsageError(`--${name} must be ${rule}, got ${JSON.stringify(raw)}`);
  return v;
}

/** `--device`: one of DEVICE_CHOICES (the training command's and predict's). */
export function deviceChoice<F extends FlagValues>(flags: F): DeviceChoice {
  const raw = flags.device;
  if (!DEVICE_CHOICES.includes(raw as DeviceChoice)) {
    throw new UsageError(`--device must be ${DEVICE_CHOICES.slice(0, -1).join(', ')} or ${DEVICE_CHOICES[DEVICE_CHOICES.length - 1]}, got ${JSON.stringify(raw)}`);
  }
  return raw as DeviceChoice;
}

/**
 * `--threads`: the CPU device's options (its thread count; undefined where the flag is absent: the
 * host's cores). Refused beside `--device gpu`, which does not use it.
 */
export function cpuDeviceOptions<F extends FlagValues>(flags: F): CpuDeviceOptions {
  const raw = flags.threads;
  if (raw === undefined) return {};
  const threads = num(flags, 'threads', (x) => Number.isInteger(x) && x >= 1 && x <= MAX_CPU_THREADS, `a whole number from 1 to ${MAX_CPU_THREADS}`);
  if (flags.device === 'gpu') throw new UsageError('--threads sets the CPU device\'s threads; --device gpu trains on WebGPU');
  return { threads };
}

export function int<F extends FlagValues>(flags: F, name: keyof F & string, min: number): number {
  return num(flags, name, (x) => Number.isInteger(x) && x >= min, `an integer >= ${min}`);
}

type CommandOptions = NonNullable<ParseArgsConfig['options']>;
type CommandConfig<O extends CommandOptions> = { args: string[]; options: O; allowPositionals: false; strict: true };
type CommandValues<O extends CommandOptions> = ReturnType<typeof parseArgs<CommandConfig<O>>>['values'];

/**
 * A subcommand's flags (`npm start -- <command> ...`): a parse error names the command, `--help`
 * prints `usage` and gives null, and each flag in `required` must be given (`<command> needs --flag VALUE`).
 */
export function parseCommand<O extends CommandOptions, R extends keyof O & string>(command: string, argv: string[], options: O, usage: string, required: Record<R, string>): (CommandValues<O> & Record<R, string>) | null {
  let flags: CommandValues<O>;
  try {
    flags = parseArgs<CommandConfig<O>>({ args: argv, options, allowPositionals: false, strict: true }).values;
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message}`);
  }
  if ((flags as FlagValues).help) {
    process.stdout.write(usage);
    return null;
  }
  for (const [name, value] of Object.entries(required) as [string, string][]) {
    if ((flags as FlagValues)[name] === undefined) throw new UsageError(`${command} needs --${name} ${value}`);
  }
  return flags as CommandValues<O> & Record<R, string>;
}

export function list(flags: Flags, name: keyof Flags): string[] {
  const raw = flags[name];
  return typeof raw === 'string' && raw.trim() !== '' ? raw.split(',').map((s) => s.trim()) : [];
}

export function intList(flags: Flags, name: keyof Flags): number[] {
  return list(flags, name).map((s) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${name} must list positive integers, got ${JSON.stringify(flags[name])}`);
    return v;
  });
}
