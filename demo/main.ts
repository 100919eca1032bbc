/**
 * The interactive demo: configure a PLE-family model and its data, train it on WebGPU in this
 * tab with live charts and gate views, and save or load checkpoints. Everything goes through
 * the library's public API; user files are read locally and never sent anywhere.
 */
import {
  acquireBrowserDevice,
  cgc,
  checkpointBytes,
  csvDataset,
  evaluate,
  gateReportsOf,
  fit,
  formatAdapter,
  mmoe,
  NoAdapterError,
  parseCsv,
  ple,
  readCheckpoint,
  sharedBottom,
  syntheticDataset,
  Trainer,
  trainerFromCheckpoint,
  type Checkpoint,
  type Dataset,
  type EpochReport,
  type EvalReport,
  type GateReport,
  type GpuContext,
  type ModelConfig,
  type ParsedCsv,
  type Split,
  type SyntheticDatasetOptions,
  type TabularSchema,
} from '../src/index.js';
import { Charts, epochPoint, type RunRecord } from './charts.js';
import { RolePicker } from './csv-roles.js';
import { gateTitle, renderHeatmaps, SimplexView, type GateSample } from './gates.js';

// ---------------------------------------------------------------------------------------------
// Page elements

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const num = (id: string) => Number($<HTMLInputElement>(id).value);
const el = {
  adapter: $('adapter'),
  noWebgpu: $('no-webgpu'),
  noWebgpuReason: $('no-webgpu-reason'),
  error: $('error'),
  family: $<HTMLSelectElement>('family'),
  correlation: $<HTMLInputElement>('correlation'),
  correlationValue: $<HTMLOutputElement>('correlation-value'),
  syntheticOptions: $('synthetic-options'),
  csvOptions: $('csv-options'),
  csvFile: $<HTMLInputElement>('csv-file'),
  csvSummary: $('csv-summary'),
  checkpointFile: $<HTMLInputElement>('checkpoint-file'),
  checkpointSummary: $('checkpoint-summary'),
  continue: $<HTMLInputElement>('continue'),
  start: $<HTMLButtonElement>('start'),
  pause: $<HTMLButtonElement>('pause'),
  stop: $<HTMLButtonElement>('stop'),
  downloadCheckpoint: $<HTMLButtonElement>('download-checkpoint'),
  downloadMetrics: $<HTMLButtonElement>('download-metrics'),
  clearRuns: $<HTMLButtonElement>('clear-runs'),
  progress: $<HTMLProgressElement>('progress'),
  status: $('status'),
  heatmaps: $('heatmaps'),
  simplexGate: $<HTMLSelectElement>('simplex-gate'),
  seesawX: $<HTMLSelectElement>('seesaw-x'),
  seesawY: $<HTMLSelectElement>('seesaw-y'),
};

const charts = new Charts({
  loss: $<HTMLCanvasElement>('chart-loss'),
  metric: $<HTMLCanvasElement>('chart-metric'),
  seesaw: $<HTMLCanvasElement>('chart-seesaw'),
});
const simplex = new SimplexView($<HTMLCanvasElement>('simplex'));
simplex.clear('no gate weights yet');
const picker = new RolePicker($('roles'), () => clearError());

// ---------------------------------------------------------------------------------------------
// State

type State = 'loading' | 'no-webgpu' | 'ready' | 'preparing' | 'training' | 'paused' | 'stopping' | 'done' | 'stopped' | 'error';

/** How a data set was made, stored in checkpoints so a run can be continued (never the data itself). */
type DataDescriptor =
  | { kind: 'synthetic'; options: SyntheticDatasetOptions }
  | { kind: 'csv'; source: string; schema: TabularSchema; validationFraction: number; seed: number };

interface Session {
  trainer: Trainer;
  dataset: Dataset;
  data: DataDescriptor;
  family: string;
  history: EpochReport[];
  options: { epochs: number; batchSize: number; learningRate: number; seed: number };
  run: RunRecord;
  sample: GateSample | null;
  test?: EvalReport;
}

let state: State = 'loading';
let ctx: GpuContext | null = null;
let csv: { text: string; source: string; parsed: ParsedCsv } | null = null;
let session: Session | null = null;
let loaded: { ckpt: Checkpoint; source: string } | null = null;
let paused = false;
let resume: (() => void) | null = null;
let stopRequested = false;
let gateUpdates = 0;
/** The message of the last device loss, shown instead of the errors it causes in flight. */
let deviceLost: string | null = null;
const errors: string[] = [];
let progress = { epoch: 0, step: 0, stepsPerEpoch: 0, loss: NaN, epochs: 0 };

/** What the end-to-end test reads. */
const demo = {
  get state() {
    return state;
  },
  get adapter() {
    return el.adapter.textContent;
  },
  get progress() {
    return { ...progress };
  },
  get errors() {
    return [...errors];
  },
  get gateUpdates() {
    return gateUpdates;
  },
  get redraws() {
    return charts.redraws;
  },
  get epochsDone() {
    return charts.current?.epochs.length ?? 0;
  },
  /** Destroys the GPU device, as a driver reset would lose it (for the test of the device-lost path). */
  loseDevice: () => ctx?.device.destroy(),
  runs: () => charts.runs.map((r) => ({ label: r.label, tasks: r.tasks, epochs: r.epochs, finished: r.finished })),
  plotted: () => {
    charts.flush();
    return charts.plotted();
  },
};
(window as unknown as { __demo: typeof demo }).__demo = demo;

function setState(s: State, text?: string): void {
  state = s;
  el.status.dataset.state = s;
  if (text !== undefined) el.status.textContent = text;
  const running = s === 'preparing' || s === 'training' || s === 'paused' || s === 'stopping';
  el.start.disabled = running || s === 'no-webgpu' || s === 'loading';
  el.pause.disabled = !(s === 'training' || s === 'paused');
  el.pause.textContent = s === 'paused' ? 'Resume' : 'Pause';
  el.stop.disabled = !(s === 'training' || s === 'paused');
  el.downloadCheckpoint.disabled = running || !session;
  el.downloadMetrics.disabled = running || !session || session.history.length === 0;
  el.checkpointFile.disabled = running;
}

function showError(e: unknown): void {
  const message = e instanceof Error ? (e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message) : String(e);
  errors.push(message);
  el.error.textContent = message;
  el.error.hidden = false;
  console.error(e);
}

function clearError(): void {
  el.error.hidden = true;
  el.error.textContent = '';
}

window.addEventListener('unhandledrejection', (e) => {
  // After a device loss, the steps still in flight fail too: the loss message says it all.
  if (deviceLost) return e.preventDefault();
  showError(e.reason);
});

// ---------------------------------------------------------------------------------------------
// WebGPU

async function device(): Promise<GpuContext> {
  if (ctx) return ctx;
  const c = await acquireBrowserDevice();
  c.device.lost.then((info) => {
    // The page never destroys its device, so any loss (a driver reset, a GPU process crash) is news.
    if (ctx === c) ctx = null;
    deviceLost = `The GPU device was lost (${info.reason || 'unknown reason'}${info.message ? `: ${info.message}` : ''}). Training stopped; press Start to train again on a new device, or reload the page.`;
    showError(deviceLost);
    stopRequested = true;
    resume?.();
    setState('error', 'GPU device lost.');
  });
  c.device.addEventListener('uncapturederror', (e) => showError(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`));
  ctx = c;
  el.adapter.textContent = `Adapter: ${formatAdapter(c.adapter)}`;
  return c;
}

async function init(): Promise<void> {
  try {
    await device();
    setState('ready', 'Ready. Configure a model and its data, then press Start.');
  } catch (e) {
    const reason = e instanceof NoAdapterError ? e.message : `Could not open a WebGPU device: ${e instanceof Error ? e.message : String(e)}`;
    el.noWebgpuReason.textContent = reason;
    el.noWebgpu.hidden = false;
    el.adapter.textContent = 'No WebGPU adapter';
    setState('no-webgpu', 'WebGPU is not available: training is disabled (see above).');
  }
}

// ---------------------------------------------------------------------------------------------
// Form

const source = () => (document.querySelector<HTMLInputElement>('input[name="source"]:checked')!.value as 'synthetic' | 'csv');

function widths(id: string, allowEmpty: boolean): number[] {
  const text = $<HTMLInputElement>(id).value.trim();
  if (text === '' && allowEmpty) return [];
  const w = text.split(',').map((s) => Number(s.trim()));
  if (!w.length || w.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`${id.replace('-', ' ')}: write positive integers separated by commas, e.g. 32,16`);
  return w;
}

function syncFamily(): void {
  const family = el.family.value;
  for (const label of Array.from(document.querySelectorAll<HTMLElement>('label[data-for]'))) label.hidden = !label.dataset.for!.split(' ').includes(family);
  $('shared-label').textContent = family === 'mmoe' ? 'Experts' : 'Shared experts';
  $('widths-label').textContent = family === 'shared-bottom' ? 'Bottom widths' : 'Expert widths';
}

function syncSource(): void {
  const s = source();
  el.syntheticOptions.hidden = s !== 'synthetic';
  el.csvOptions.hidden = s !== 'csv';
}

el.family.addEventListener('change', syncFamily);
for (const r of Array.from(document.querySelectorAll<HTMLInputElement>('input[name="source"]'))) r.addEventListener('change', syncSource);
el.correlation.addEventListener('input', () => (el.correlationValue.value = Number(el.correlation.value).toFixed(2)));
syncFamily();
syncSource();

function modelConfig(dataset: Dataset): ModelConfig {
  const common = {
    inputDim: dataset.inputDim,
    embeddings: dataset.embeddings,
    tasks: dataset.tasks.map((t) => ({ name: t.name, type: t.type })),
    towerWidths: widths('tower-widths', true),
  };
  const expertWidths = widths('expert-widths', false);
  switch (el.family.value) {
    case 'ple':
      return ple({ ...common, levels: num('levels'), taskExperts: num('task-experts'), sharedExperts: num('shared-experts'), expertWidths });
    case 'cgc':
      return cgc({ ...common, taskExperts: num('task-experts'), sharedExperts: num('shared-experts'), expertWidths });
    case 'mmoe':
      return mmoe({ ...common, experts: num('shared-experts'), expertWidths });
    default:
      return sharedBottom({ ...common, bottomWidths: expertWidths });
  }
}

function dataFromForm(): DataDescriptor {
  if (source() === 'synthetic') {
    return {
      kind: 'synthetic',
      options: {
        inputDim: num('input-dim'),
        correlation: Number(el.correlation.value),
        trainRows: num('train-rows'),
        validationRows: num('validation-rows'),
        testRows: num('validation-rows'),
        seed: num('seed'),
        binary: $<HTMLInputElement>('binary').checked,
      },
    };
  }
  if (!csv) throw new Error('pick a CSV file first (it is read in this tab, not uploaded)');
  return { kind: 'csv', source: csv.source, schema: picker.schema(), validationFraction: num('validation-fraction'), seed: num('seed') };
}

function buildDataset(d: DataDescriptor): Dataset {
  if (d.kind === 'synthetic') return syntheticDataset(d.options);
  if (!csv) throw new Error(`pick the CSV file ${d.source} first`);
  return csvDataset({ schema: d.schema, train: { text: csv.text, source: csv.source }, validationFraction: d.validationFraction, seed: d.seed }).dataset;
}

const familyName = (f: string) => ({ ple: 'PLE', cgc: 'CGC', mmoe: 'MMoE', 'shared-bottom': 'Shared-bottom' })[f] ?? f;

// ---------------------------------------------------------------------------------------------
// CSV

el.csvFile.addEventListener('change', async () => {
  clearError();
  const file = el.csvFile.files?.[0];
  csv = null;
  picker.clear();
  el.csvSummary.textContent = '';
  if (!file) return;
  try {
    const text = await file.text(); // read locally: the file never leaves this machine
    const parsed = parseCsv(text, file.name);
    csv = { text, source: file.name, parsed };
    picker.render(parsed);
    const d = loaded?.ckpt.data as DataDescriptor | undefined;
    if (d?.kind === 'csv' && d.schema) picker.apply(d.schema);
    el.csvSummary.textContent = `${file.name}: ${parsed.rows.length} rows, ${parsed.header.length} columns (read in this tab). Pick each column's role:`;
  } catch (e) {
    el.csvSummary.textContent = `${file.name} could not be read.`;
    showError(e);
  }
});

// ---------------------------------------------------------------------------------------------
// Gates

function gateSample(dataset: Dataset): GateSample & { split: Split; x: Float32Array; categorical?: Int32Array } {
  const split = dataset.validation ?? dataset.train;
  const rows = Math.min(split.rows, 400);
  const K = dataset.tasks.length;
  const classes = dataset.tasks.map((t, k) => {
    const y = Float32Array.from({ length: rows }, (_, r) => split.labels[r * K + k]);
    const sorted = Float32Array.from(y.filter((v) => !Number.isNaN(v))).sort();
    const cut = t.type === 'binary' ? 0.5 : (sorted[sorted.length >> 1] ?? 0);
    return Uint8Array.from(y, (v) => (v > cut ? 1 : 0));
  });
  const T = split.categorical ? split.categorical.length / split.rows : 0;
  return {
    split,
    rows,
    classes,
    gates: [],
    x: split.x.subarray(0, rows * dataset.inputDim),
    categorical: split.categorical?.subarray(0, rows * T),
  };
}

function fillGateChoices(trainer: Trainer, taskNames: string[]): void {
  const previous = el.simplexGate.value;
  el.simplexGate.replaceChildren();
  const choices: { value: string; n: number }[] = [];
  trainer.spec.levels.forEach((level, j) =>
    level.gates.forEach((gate, g) => {
      const n = gate.members.length;
      if (n < 2 || n > 4) return;
      choices.push({ value: `${j}:${g}`, n });
      el.simplexGate.add(new Option(`${gateTitle(trainer.spec, j, g, taskNames)} (${n} experts)`, `${j}:${g}`));
    }),
  );
  if (choices.some((c) => c.value === previous)) el.simplexGate.value = previous;
  else {
    const pick = choices.find((c) => c.n === 3) ?? choices.find((c) => c.n === 4) ?? choices[0];
    if (pick) el.simplexGate.value = pick.value;
  }
  el.simplexGate.disabled = choices.length === 0;
}

function drawSimplex(): void {
  if (!session?.sample || !session.sample.gates.length) return;
  const taskNames = session.dataset.tasks.map((t) => t.name);
  if (!el.simplexGate.value) {
    simplex.clear('no gate mixes 2 to 4 experts in this model');
    return;
  }
  const [j, g] = el.simplexGate.value.split(':').map(Number);
  simplex.show(session.trainer.spec, session.sample, j, g, taskNames);
}
el.simplexGate.addEventListener('change', drawSimplex);

/**
 * Runs the model on the gate sample for the simplex view. The heat map shows `reports` when given
 * (the epoch's evaluation over the whole validation split), else the same sample's gate statistics.
 */
async function refreshGates(s: Session, reports?: GateReport[], caption?: string): Promise<void> {
  const sample = gateSample(s.dataset);
  const { gates } = await s.trainer.infer(sample.x, sample.rows, true, sample.categorical);
  s.sample = { gates, rows: sample.rows, classes: sample.classes };
  if (!reports) {
    reports = gateReportsOf(s.trainer.spec, gates, sample.rows);
    caption = `Mean weights over ${sample.rows} validation samples, during training (step ${s.trainer.steps}).`;
  }
  renderHeatmaps(el.heatmaps, s.trainer.spec, reports, s.dataset.tasks.map((t) => t.name), caption ?? '');
  drawSimplex();
  gateUpdates++;
}

// ---------------------------------------------------------------------------------------------
// Training

function setSeesawChoices(taskNames: string[]): void {
  for (const [select, index] of [[el.seesawX, 0], [el.seesawY, 1]] as const) {
    const previous = select.value;
    select.replaceChildren(...taskNames.map((n) => new Option(n, n)));
    select.value = taskNames.includes(previous) && taskNames.length > 2 ? previous : taskNames[Math.min(index, taskNames.length - 1)];
  }
  syncSeesaw();
}
function syncSeesaw(): void {
  charts.seesawTasks = el.seesawX.value && el.seesawY.value ? [el.seesawX.value, el.seesawY.value] : null;
  charts.request();
}
el.seesawX.addEventListener('change', syncSeesaw);
el.seesawY.addEventListener('change', syncSeesaw);

function sameModelInputs(trainer: Trainer, dataset: Dataset): string | null {
  const c = trainer.spec.config;
  if (c.inputDim !== dataset.inputDim) return `the checkpoint's model reads ${c.inputDim} dense inputs, this data set has ${dataset.inputDim}`;
  const want = c.tasks.map((t) => `${t.name}:${t.type}`).join(', ');
  const have = dataset.tasks.map((t) => `${t.name}:${t.type}`).join(', ');
  if (want !== have) return `the checkpoint's tasks are ${want}; this data set's are ${have}`;
  const we = JSON.stringify(c.embeddings.map((e) => [e.name, e.vocabulary, e.dim]));
  const he = JSON.stringify((dataset.embeddings ?? []).map((e) => [e.name, e.vocabulary, e.dim]));
  if (we !== he) return `the checkpoint's embedding tables ${we} differ from this data set's ${he}`;
  return null;
}

function statusLine(extra = ''): string {
  const p = progress;
  const frac = p.stepsPerEpoch ? `epoch ${p.epoch}/${p.epochs} · step ${p.step}/${p.stepsPerEpoch}` : '';
  return [frac, Number.isFinite(p.loss) ? `running loss ${p.loss.toFixed(4)}` : '', extra].filter(Boolean).join(' · ');
}

async function start(): Promise<void> {
  clearError();
  deviceLost = null;
  stopRequested = false;
  paused = false;
  setState('preparing', 'Preparing the data…');
  let trainer: Trainer | null = null;
  try {
    const c = await device();
    const data = dataFromForm();
    await new Promise((r) => setTimeout(r, 0)); // let the status paint before generating data
    const dataset = buildDataset(data);
    const batchSize = num('batch-size');
    const learningRate = num('lr');
    const seed = num('seed');
    const epochs = num('epochs');
    if (!Number.isInteger(epochs) || epochs < 1) throw new Error('epochs must be a positive integer');
    let history: EpochReport[] = [];
    let startEpoch = 1;
    let family = el.family.value;
    setState('preparing', 'Compiling GPU pipelines (seconds on a software adapter)…');
    if (el.continue.checked && loaded) {
      trainer = await trainerFromCheckpoint(c, loaded.ckpt, { batchSize }, loaded.source);
      const mismatch = sameModelInputs(trainer, dataset);
      if (mismatch) throw new Error(`cannot continue ${loaded.source} on this data: ${mismatch}`);
      const t = loaded.ckpt.training as { epoch?: number; history?: EpochReport[]; family?: string } | undefined;
      history = t?.history ?? [];
      startEpoch = (t?.epoch ?? 0) + 1;
      family = t?.family ?? 'loaded';
    } else {
      trainer = await Trainer.create(c, modelConfig(dataset), { batchSize, optimizer: { kind: 'adam', lr: learningRate }, seed });
    }
    if (session && session.trainer !== trainer) session.trainer.destroy();
    for (const r of charts.runs) r.finished = true;
    const label = `${familyName(family)} #${charts.runs.length + 1}${data.kind === 'synthetic' ? ` (p=${data.options.correlation})` : ''}`;
    const run = charts.addRun(label, dataset.tasks);
    for (const h of history) run.epochs.push(epochPoint(h, dataset.tasks));
    const s: Session = { trainer, dataset, data, family, history, options: { epochs: startEpoch - 1 + epochs, batchSize, learningRate, seed }, run, sample: null };
    session = s;
    trainer = null;
    const taskNames = dataset.tasks.map((t) => t.name);
    setSeesawChoices(taskNames);
    fillGateChoices(s.trainer, taskNames);
    el.continue.checked = false;

    const totalEpochs = s.options.epochs;
    progress = { epoch: startEpoch, step: 0, stepsPerEpoch: Math.ceil(dataset.train.rows / batchSize), loss: NaN, epochs: totalEpochs };
    setState('training', statusLine('first steps…'));
    let lastYield = performance.now();
    let lastGates = performance.now();
    let stepsSeen = 0;
    const t0 = performance.now();

    await fit(s.trainer, dataset, {
      epochs: totalEpochs,
      startEpoch,
      learningRate,
      seed,
      beforeStep: async () => {
        if (paused && !stopRequested) {
          setState('paused', statusLine('paused'));
          await new Promise<void>((r) => (resume = r));
          resume = null;
          if (!stopRequested) setState('training', statusLine());
        }
        const now = performance.now();
        if (now - lastGates > 1000) {
          lastGates = now;
          await refreshGates(s);
        }
        if (now - lastYield > 40) {
          // Keep the page responsive: let input events and painting run between submissions.
          lastYield = now;
          await new Promise((r) => setTimeout(r, 0));
        }
      },
      shouldStop: () => stopRequested,
      onProgress: (p) => {
        stepsSeen++;
        progress = { ...p, epochs: totalEpochs };
        const done = (p.epoch - 1 + p.step / p.stepsPerEpoch) / totalEpochs;
        el.progress.value = done;
        const rate = stepsSeen / ((performance.now() - t0) / 1000);
        if (state === 'training') el.status.textContent = statusLine(`${rate.toFixed(1)} steps/s`);
        s.run.running.push({ x: p.epoch - 1 + p.step / p.stepsPerEpoch, y: p.loss });
        charts.request();
      },
      onEpoch: async (report) => {
        s.history.push(report);
        s.run.epochs.push(epochPoint(report, dataset.tasks));
        charts.request();
        lastGates = performance.now();
        await refreshGates(s, report.validation?.gates, `Mean weights over the ${(dataset.validation ?? dataset.train).rows} validation samples after epoch ${report.epoch}.`);
      },
    });
    if (dataset.test) s.test = await evaluate(s.trainer, dataset.test, dataset.tasks);
    s.run.finished = true;
    charts.flush();
    const last = s.history[s.history.length - 1];
    const summary = last?.validation
      ? Object.entries(last.validation.tasks)
          .map(([name, m]) => `${name} ${typeof m.auc === 'number' ? `AUC ${m.auc.toFixed(3)}` : `MSE ${m.mse?.toFixed(4)}`}`)
          .join(', ')
      : '';
    el.progress.value = stopRequested ? el.progress.value : 1;
    setState(stopRequested ? 'stopped' : 'done', `${stopRequested ? 'Stopped' : 'Done'} after epoch ${last?.epoch ?? '–'}. ${summary ? `Validation: ${summary}.` : ''}`);
  } catch (e) {
    trainer?.destroy();
    if (session) session.run.finished = true;
    if (deviceLost) {
      el.error.textContent = deviceLost;
      el.error.hidden = false;
      setState('error', 'GPU device lost: training stopped.');
    } else {
      showError(e);
      setState('error', 'Training did not finish: see the message above.');
    }
  }
}

el.start.addEventListener('click', () => void start());
el.pause.addEventListener('click', () => {
  if (state === 'paused') {
    paused = false;
    resume?.();
  } else {
    paused = true;
    el.status.textContent = statusLine('pausing after the current step…');
  }
});
el.stop.addEventListener('click', () => {
  stopRequested = true;
  paused = false;
  resume?.();
  setState('stopping', statusLine('stopping after the current step…'));
});
el.clearRuns.addEventListener('click', () => charts.clearFinished());

// ---------------------------------------------------------------------------------------------
// Downloads and checkpoints

function download(bytes: BlobPart, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

el.downloadCheckpoint.addEventListener('click', async () => {
  if (!session) return;
  try {
    const s = session;
    const epoch = s.history[s.history.length - 1]?.epoch ?? 0;
    const bytes = await checkpointBytes(s.trainer, {
      training: { epoch, family: s.family, history: s.history, options: s.options },
      data: s.data,
    });
    download(bytes as BlobPart, `${s.family}-epoch${epoch}.safetensors`, 'application/octet-stream');
  } catch (e) {
    showError(e);
  }
});

el.downloadMetrics.addEventListener('click', () => {
  if (!session) return;
  const s = session;
  const metrics = {
    generator: 'ple-webgpu demo',
    dataset: s.dataset.name,
    data: s.data,
    adapter: ctx ? formatAdapter(ctx.adapter) : undefined,
    config: s.trainer.spec.config,
    options: s.options,
    epochs: s.history,
    test: s.test,
  };
  download(JSON.stringify(metrics, null, 2), `${s.family}-metrics.json`, 'application/json');
});

function describeConfig(c: Checkpoint['config']): string {
  const levels = c.levels.map((l) => `[${l.taskExperts.join('/')} task + ${l.sharedExperts} shared × ${l.expertWidths.join(',')}]`).join(' → ');
  return `${c.levels.length} level(s) ${levels}, towers ${c.towerWidths.join(',') || 'none'}, tasks ${c.tasks.map((t) => `${t.name} (${t.type})`).join(', ')}, ${c.inputDim} dense inputs${c.embeddings.length ? `, ${c.embeddings.length} embedding tables` : ''}`;
}

function applyDataDescriptor(d: DataDescriptor): void {
  const radio = document.querySelector<HTMLInputElement>(`input[name="source"][value="${d.kind}"]`)!;
  radio.checked = true;
  syncSource();
  if (d.kind === 'synthetic') {
    const o = d.options;
    $<HTMLInputElement>('input-dim').value = String(o.inputDim);
    el.correlation.value = String(o.correlation);
    el.correlationValue.value = o.correlation.toFixed(2);
    $<HTMLInputElement>('train-rows').value = String(o.trainRows);
    $<HTMLInputElement>('validation-rows').value = String(o.validationRows);
    $<HTMLInputElement>('seed').value = String(o.seed);
    $<HTMLInputElement>('binary').checked = Boolean(o.binary);
  } else {
    $<HTMLInputElement>('validation-fraction').value = String(d.validationFraction);
    $<HTMLInputElement>('seed').value = String(d.seed);
    if (csv) picker.apply(d.schema);
  }
}

el.checkpointFile.addEventListener('change', async () => {
  clearError();
  const file = el.checkpointFile.files?.[0];
  if (!file) return;
  try {
    const ckpt = readCheckpoint(new Uint8Array(await file.arrayBuffer()), file.name);
    loaded = { ckpt, source: file.name };
    const t = ckpt.training as { epoch?: number; history?: EpochReport[]; family?: string; options?: Session['options'] } | undefined;
    // The demo's own data descriptor; a checkpoint of the CLI holds a tabular encoder (or nothing) instead.
    const raw = ckpt.data as { kind?: unknown } | undefined;
    const d = raw && (raw.kind === 'synthetic' || raw.kind === 'csv') ? (raw as DataDescriptor) : undefined;
    el.checkpointSummary.textContent = `${file.name}: ${describeConfig(ckpt.config)}; ${ckpt.step} optimizer steps${t?.epoch ? `, ${t.epoch} epochs` : ''}.`;
    el.continue.disabled = false;
    el.continue.checked = true;
    if (t?.family && t.family in { ple: 1, cgc: 1, mmoe: 1, 'shared-bottom': 1 }) {
      el.family.value = t.family;
      syncFamily();
    }
    if (t?.options) {
      $<HTMLInputElement>('batch-size').value = String(t.options.batchSize);
      $<HTMLInputElement>('lr').value = String(t.options.learningRate);
    }
    if (d) applyDataDescriptor(d);
    else el.checkpointSummary.textContent += ' It does not say how its data was made here: set up the same data (synthetic settings, or the CSV file and roles) to view its gates or continue it.';

    // View it: its history on the charts, its gates on the data (when that data is at hand).
    const c = await device();
    let dataset: Dataset | null = null;
    try {
      dataset = d ? buildDataset(d) : null;
    } catch {
      el.checkpointSummary.textContent += ` Pick the CSV file ${d?.kind === 'csv' ? d.source : ''} to view its gates or continue.`;
    }
    const tasks = ckpt.config.tasks.map((x) => ({ name: x.name, type: x.type }));
    for (const r of charts.runs) r.finished = true;
    const run = charts.addRun(`loaded ${file.name}`, tasks);
    for (const h of t?.history ?? []) run.epochs.push(epochPoint(h, tasks));
    run.finished = true;
    setSeesawChoices(tasks.map((x) => x.name));
    const trainer = await trainerFromCheckpoint(c, ckpt, { batchSize: t?.options?.batchSize ?? num('batch-size') }, file.name);
    if (session) session.trainer.destroy();
    session = {
      trainer,
      dataset: dataset ?? ({ name: file.name, tasks, inputDim: ckpt.config.inputDim, train: { rows: 0, x: new Float32Array(), labels: new Float32Array(), mask: new Float32Array() } } as Dataset),
      data: d ?? ({ kind: 'synthetic', options: { inputDim: ckpt.config.inputDim, correlation: 0, trainRows: 0, validationRows: 0, testRows: 0, seed: 0 } } as DataDescriptor),
      family: t?.family ?? 'loaded',
      history: [...(t?.history ?? [])],
      options: t?.options ?? { epochs: t?.epoch ?? 0, batchSize: trainer.batchSize, learningRate: ckpt.optimizer.lr, seed: 0 },
      run,
      sample: null,
    };
    fillGateChoices(trainer, tasks.map((x) => x.name));
    if (dataset && !sameModelInputs(trainer, dataset)) {
      const last = session.history[session.history.length - 1];
      await refreshGates(session, last?.validation?.gates, last ? `Mean weights after epoch ${last.epoch} (from the checkpoint).` : undefined);
    }
    charts.flush();
    setState('ready', `Loaded ${file.name}. Press Start to continue training it, or untick "Continue" to train a new model.`);
  } catch (e) {
    loaded = null;
    el.continue.checked = false;
    el.continue.disabled = true;
    el.checkpointSummary.textContent = '';
    showError(e);
    setState(ctx ? 'ready' : state);
  }
});

void init();
