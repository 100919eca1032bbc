/**
 * The training session: the page's one holder of state. It owns the device (WebGPU or the CPU
 * device, chosen by acquireBrowserTrainingDevice and the page's `?device=` parameter), the picked data file,
 * and the model in the tab (trained here or loaded from a checkpoint, with its data, history and
 * position), runs training through `fit` with pause / resume / stop, and tells the views (form,
 * controls, charts, gates) what to show. A model can always be trained further: after Done, after
 * a Stop mid-epoch (from where it stopped), and after loading its checkpoint.
 */
import {
  acquireBrowserTrainingDevice,
  checkpointBytes,
  datasetForConfig,
  epochInTargetUnits,
  evaluate,
  FAMILY_NAMES,
  familyConfig,
  familyOptionsOf,
  fit,
  fitTargetScaling,
  formatAdapter,
  gateReportsOf,
  GpuContext,
  NO_SCALING,
  NoAdapterError,
  readCheckpoint,
  reportInTargetUnits,
  scaleTargets,
  targetScalingFromJSON,
  Trainer,
  trainerFromCheckpoint,
  type Checkpoint,
  type Dataset,
  type Split,
  type TabularEncoder,
  type EpochReport,
  type EvalReport,
  type FamilyOptions,
  type AdapterReport,
  type CpuDevice,
  type DeviceChoice,
  type TrainingDevice,
  type TargetScaling,
  type TrainingState,
} from '../src/index.js';
import { Charts, epochPoint, metricName, type RunRecord } from './charts.js';
import { Controls, download, RUNNING, type Phase } from './controls.js';
import type { ServingModel } from './serving.js';
import { buildData, dataKey, dataName, descriptorOf, headOf, readDataFile, SAMPLE_ROWS, type DataDescriptor, type DataFile } from './data.js';
import { isStreamSplit, type StreamDataset } from '../src/data/dataset.js';
import { scaleStreamTargets, streamTargetScaling } from '../src/data/targets.js';
import type { SetupForm, TrainingOptions } from './form.js';
import type { RolePicker } from './csv-roles.js';
import type { GateSample, GatesView } from './gates.js';

/** Where a run stopped within an epoch: the next step to take. */
interface Position {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
}

/** What the page stores in a checkpoint's `training` metadata. */
interface TrainingMeta {
  /** Epochs completed. */
  epoch: number;
  position?: Position;
  family: string;
  model: FamilyOptions;
  history: EpochReport[];
  options: TrainingOptions;
  targets: TargetScaling;
}

/** The model in the tab. */
interface Model {
  trainer: Trainer;
  family: FamilyOptions;
  /** How its data is made (null: a checkpoint that does not say). */
  data: DataDescriptor | null;
  /** Its data, once at hand (labels in their own units): in memory, or streamed from a Parquet/Arrow file. */
  dataset: Dataset | StreamDataset | null;
  /** The tabular encoder of its data (null: synthetic data, or a file not picked yet). */
  encoder: TabularEncoder | null;
  /** The first validation (or training) rows, in memory: the gate views' sample. */
  gateRows: Split | null;
  targets: TargetScaling;
  history: EpochReport[];
  position: Position | null;
  options: TrainingOptions;
  run: RunRecord;
  sample: GateSample | null;
  test?: EvalReport;
  name: string;
  /** The device its trainer runs on, as `npm start` records it in metrics.json. */
  device: DeviceRecord;
  /** On a lost device: shown, but not trainable. */
  lost: boolean;
}

/** A device as the metrics record it (`npm start`'s metrics.json has the same): its kind, and the adapter on WebGPU. */
type DeviceRecord = { kind: 'cpu'; threads: number } | { kind: 'webgpu'; adapter: AdapterReport };

const deviceRecord = (c: GpuContext | CpuDevice): DeviceRecord => (c instanceof GpuContext ? { kind: 'webgpu', adapter: c.adapter } : { kind: 'cpu', threads: c.threads });

const tick = () => new Promise((r) => setTimeout(r, 0));

export class Session {
  phase: Phase = 'loading';
  private ctx: GpuContext | CpuDevice | null = null;
  private file: DataFile | null = null;
  private model: Model | null = null;
  private paused = false;
  private resume: (() => void) | null = null;
  private stopRequested = false;
  /** The message of the last device loss, shown instead of the errors it causes in flight. */
  private deviceLost: string | null = null;
  /**
   * Counts Start presses. A run cut short by a lost device may still be unwinding (its work in
   * flight fails a moment later) when Start begins the next one; only the newest run may then
   * report and change the page's state.
   */
  private starts = 0;
  /** Devices lost since the page opened. */
  private devicesLost = 0;
  readonly errors: string[] = [];
  progress = { epoch: 0, step: 0, stepsPerEpoch: 0, loss: NaN, epochs: 0 };
  gateUpdates = 0;
  /** The header's line: the device in use and why (see {@link deviceLine}). */
  adapter = '';
  /** Where auto found no WebGPU and chose the CPU device: the browser's reason. */
  private noWebGpu: string | undefined;
  /** Called with {@link adapter} whenever a device is opened; set by the page. */
  onDevice: ((line: string) => void) | null = null;

  /** @param choice the device to train on (the page's `?device=` parameter). */
  constructor(
    private readonly views: { form: SetupForm; controls: Controls; charts: Charts; gates: GatesView; picker: RolePicker },
    readonly choice: DeviceChoice,
  ) {
    window.addEventListener('unhandledrejection', async (e) => {
      // After a device loss, the steps still in flight fail too: the loss message says it all.
      e.preventDefault();
      if (!(await this.causedByDeviceLoss(e.reason))) this.showError(e.reason);
    });
  }

  /** A model in the tab that can train further (not one on a lost device). */
  get canContinue(): boolean {
    return Boolean(this.model && !this.model.lost);
  }

  /** The position of the model in the tab, for the test. */
  get position(): Position | null {
    return this.model?.position ?? null;
  }

  private setPhase(phase: Phase, text?: string): void {
    this.phase = phase;
    const m = this.model;
    this.views.controls.render(phase, { exists: Boolean(m), epochs: m?.history.length ?? 0 }, text);
    this.views.form.lock(RUNNING.includes(phase), this.canContinue);
  }

  /**
   * A destroyed device fails the work in flight (AbortError) just before its loss is announced:
   * waits a moment for that. Such failures may also arrive after Start has begun a new run on a new
   * device, so an abort counts as the fallout of any loss this page has seen, not only the latest.
   */
  private async causedByDeviceLoss(e: unknown): Promise<boolean> {
    const aborted = e instanceof Error && (e.name === 'AbortError' || e.name === 'DeviceLostError');
    if (aborted && this.devicesLost === 0) await new Promise((r) => setTimeout(r, 500));
    return this.deviceLost !== null || (aborted && this.devicesLost > 0);
  }

  showError(e: unknown): void {
    const message = e instanceof Error ? (e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message) : String(e);
    this.errors.push(message);
    this.views.controls.showError(message);
    console.error(e);
  }

  // -------------------------------------------------------------------------------------------
  // The device

  /** The device to train on: opened on first use, and again after a lost GPU device (the CPU device is never lost). */
  private async device(): Promise<GpuContext | CpuDevice> {
    if (this.ctx) return this.ctx;
    const chosen = await acquireBrowserTrainingDevice(this.choice, 'high-performance', '?device=gpu');
    const c = chosen.device;
    if (c instanceof GpuContext) this.watchGpu(c);
    this.ctx = c;
    this.noWebGpu = chosen.noWebGpu;
    this.adapter = deviceLine(chosen, this.choice);
    this.onDevice?.(this.adapter);
    return c;
  }

  /** Shows a GPU device's loss (stopping the run on it) and its uncaptured errors. */
  private watchGpu(c: GpuContext): void {
    c.device.lost.then((info) => {
      // The page never destroys its device, so any loss (a driver reset, a GPU process crash) is news.
      if (this.ctx === c) this.ctx = null;
      this.devicesLost++;
      if (this.model) this.model.lost = true;
      this.deviceLost = `The GPU device was lost (${info.reason || 'unknown reason'}${info.message ? `: ${info.message}` : ''}). Training stopped; press Start to train a new model on a new device, or reload the page.`;
      this.showError(this.deviceLost);
      this.stopRequested = true;
      this.resume?.();
      this.setPhase('error', 'GPU device lost.');
    });
    c.device.addEventListener('uncapturederror', (e) => this.showError(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`));
  }

  /**
   * Opens the device. `noWebGpu`: auto found no WebGPU and trains on the CPU device (the
   * browser's reason); not ok: WebGPU was asked for by name and is missing (`noAdapter`), or no
   * device could be opened at all (the error is shown).
   */
  async init(): Promise<{ ok: true; noWebGpu?: string } | { ok: false; noAdapter?: string }> {
    try {
      await this.device();
      this.setPhase('ready', 'Ready. Pick a model and its data (or keep the defaults), then press Start.');
      return { ok: true, noWebGpu: this.noWebGpu };
    } catch (e) {
      if (e instanceof NoAdapterError) {
        this.adapter = 'No WebGPU adapter';
        this.setPhase('no-device', 'WebGPU is not available: training on it is disabled (see above).');
        return { ok: false, noAdapter: e.message };
      }
      this.adapter = 'No device';
      this.showError(`Could not open a device to train on (?device=${this.choice}): ${e instanceof Error ? e.message : String(e)}`);
      this.setPhase('no-device', 'No device to train on (see the error message).');
      return { ok: false };
    }
  }

  // -------------------------------------------------------------------------------------------
  // Training

  private statusLine(extra = ''): string {
    const p = this.progress;
    const where = p.stepsPerEpoch ? `epoch ${p.epoch}/${p.epochs} · step ${p.step}/${p.stepsPerEpoch}` : '';
    return [where, Number.isFinite(p.loss) ? `running loss ${p.loss.toFixed(4)}` : '', extra].filter(Boolean).join(' · ');
  }

  /** Why a model cannot train on a data set, or null. */
  private mismatch(trainer: Trainer, dataset: Dataset | StreamDataset): string | null {
    const c = trainer.spec.config;
    if (c.inputDim !== dataset.inputDim) return `the model reads ${c.inputDim} dense inputs, this data set has ${dataset.inputDim}`;
    const want = c.tasks.map((t) => `${t.name}:${t.type}`).join(', ');
    const have = dataset.tasks.map((t) => `${t.name}:${t.type}`).join(', ');
    if (want !== have) return `the model's tasks are ${want}; this data set's are ${have}`;
    const we = JSON.stringify(c.embeddings.map((e) => [e.name, e.vocabulary, e.dim]));
    const he = JSON.stringify((dataset.embeddings ?? []).map((e) => [e.name, e.vocabulary, e.dim]));
    if (we !== he) return `the model's embedding tables ${we} differ from this data set's ${he}`;
    return null;
  }

  private newRun(family: FamilyOptions, data: DataDescriptor | null, dataset: { tasks: Dataset['tasks'] }, name?: string): RunRecord {
    const charts = this.views.charts;
    for (const r of charts.runs) r.finished = true;
    const label = `${name ?? `${FAMILY_NAMES[family.family]} #${charts.runs.length + 1}`}${data ? ` · ${dataName(data)}` : ''}`;
    return charts.addRun(label, data ? dataKey(data) : label, dataset.tasks);
  }

  /** A new model from the form, or (Continue ticked) the model in the tab, trained for the form's epochs. */
  async start(): Promise<void> {
    const { form, controls, charts, gates } = this.views;
    const thisStart = ++this.starts;
    controls.clearError();
    controls.progress(0);
    this.deviceLost = null;
    this.stopRequested = false;
    this.paused = false;
    this.setPhase('preparing', 'Preparing the data…');
    let created: Trainer | null = null;
    try {
      const c = await this.device();
      const continuing = form.continueBox.checked && this.model && !this.model.lost ? this.model : null;
      const training = form.training();
      const data = form.data(this.file);
      if (data.kind === 'file') this.setPhase('preparing', `Reading ${data.source} once in chunks (the encoder's statistics, the split sizes)…`);
      await tick(); // let the status paint before generating data
      const built = await buildData(data, this.file);
      let dataset = built.dataset;
      let m: Model;
      if (continuing) {
        m = continuing;
        dataset = datasetForConfig(dataset, m.trainer.spec.config);
        const mismatch = this.mismatch(m.trainer, dataset);
        if (mismatch) throw new Error(`cannot continue ${m.name} on this data: ${mismatch}`);
        if (m.data && dataKey(m.data) !== dataKey(data)) m.run.dataKey = dataKey(data);
        m.data = data;
        m.dataset = dataset;
        m.encoder = built.encoder;
        m.gateRows = await gateRowsOf(dataset);
        m.options = { ...training, batchSize: m.trainer.batchSize, seed: m.options.seed };
        m.run.finished = false;
        charts.makeCurrent(m.run);
      } else {
        const family = form.familyOptions();
        const weights = form.taskWeights(dataset.tasks.map((t) => t.name));
        let config;
        try {
          config = familyConfig(family, { ...dataset, tasks: dataset.tasks.map((t, k) => ({ ...t, weight: weights[k] })) });
        } catch (e) {
          throw form.explain(e);
        }
        dataset = datasetForConfig(dataset, config);
        this.setPhase('preparing', c instanceof GpuContext ? 'Compiling GPU pipelines (seconds on a software adapter)…' : 'Preparing the model on the CPU device…');
        try {
          created = await Trainer.create(c, config, { batchSize: training.batchSize, optimizer: { kind: 'adam', lr: training.learningRate }, seed: training.seed });
        } catch (e) {
          throw form.explain(e);
        }
        const targets = !form.standardiseTargets() ? NO_SCALING : isStreamSplit(dataset.train) ? await streamTargetScaling(dataset as StreamDataset) : fitTargetScaling(dataset as Dataset);
        const gateRows = await gateRowsOf(dataset);
        this.model?.trainer.destroy();
        const run = this.newRun(family, data, dataset);
        m = { trainer: created, family, data, dataset, encoder: built.encoder, gateRows, targets, history: [], position: null, options: training, run, sample: null, name: run.label, device: deviceRecord(c), lost: false };
        created = null;
        this.model = m;
      }
      gates.setModel(m.trainer.spec, dataset.tasks.map((t) => t.name));
      this.syncSeesaw(dataset.tasks.map((t) => t.name));
      form.continueBox.checked = false;
      await this.train(m, dataset, training);
    } catch (e) {
      created?.destroy();
      // Start is only enabled once a run has ended, so a superseded run is one a device loss ended
      // (already reported) that failed while unwinding: the newer run owns the page's state.
      if (thisStart !== this.starts) return;
      const lost = await this.causedByDeviceLoss(e);
      if (thisStart !== this.starts) return; // Start was pressed while this run's failure was looked at
      if (this.model) this.model.run.finished = true;
      if (lost) {
        controls.showError(this.deviceLost!);
        this.setPhase('error', 'GPU device lost: training stopped.');
      } else {
        this.showError(e);
        this.setPhase('error', 'Training did not finish: see the message above.');
      }
    }
  }

  private async train(m: Model, dataset: Dataset | StreamDataset, training: TrainingOptions): Promise<void> {
    const { controls, charts } = this.views;
    const stepsPerEpoch = Math.ceil(dataset.train.rows / m.trainer.batchSize);
    const done = m.history.length ? m.history[m.history.length - 1].epoch : 0;
    if (m.position && m.position.stepsPerEpoch !== stepsPerEpoch) {
      throw new Error(`${m.name} stopped at step ${m.position.step} of ${m.position.stepsPerEpoch} in epoch ${m.position.epoch}; this data has ${stepsPerEpoch} steps per epoch, so that position means nothing here`);
    }
    const startEpoch = m.position?.epoch ?? done + 1;
    const startStep = m.position?.step ?? 0;
    const totalEpochs = startEpoch - 1 + training.epochs;
    const trainData = isStreamSplit(dataset.train) ? scaleStreamTargets(dataset as StreamDataset, m.targets) : scaleTargets(dataset as Dataset, m.targets);
    this.progress = { epoch: startEpoch, step: startStep, stepsPerEpoch, loss: NaN, epochs: totalEpochs };
    this.setPhase('training', this.statusLine('first steps…'));
    let lastYield = performance.now();
    let lastGates = performance.now();
    let stepsSeen = 0;
    const t0 = performance.now();
    // The trainer's step count at the start of the current epoch: a pause's position is the steps taken since.
    let epochBase = m.trainer.steps - startStep;
    let epoch = startEpoch;
    const seed = m.options.seed;

    const result = await fit(m.trainer, trainData, {
      epochs: totalEpochs,
      startEpoch,
      startStep,
      learningRate: training.learningRate,
      seed,
      shuffleBuffer: m.data?.kind === 'file' ? m.data.shuffleBuffer : undefined,
      beforeStep: async () => {
        if (this.paused && !this.stopRequested) {
          m.position = { epoch, step: m.trainer.steps - epochBase, stepsPerEpoch };
          this.setPhase('paused', this.statusLine('paused (Download checkpoint saves this position)'));
          await new Promise<void>((r) => (this.resume = r));
          this.resume = null;
          if (!this.stopRequested) this.setPhase('training', this.statusLine());
        }
        const now = performance.now();
        if (now - lastGates > 1000) {
          lastGates = now;
          await this.refreshGates(m);
        }
        if (now - lastYield > 40) {
          // Keep the page responsive: let input events and painting run between submissions.
          lastYield = now;
          await tick();
        }
      },
      shouldStop: () => this.stopRequested,
      onProgress: (p) => {
        stepsSeen++;
        this.progress = { ...p, epochs: totalEpochs };
        controls.progress((p.epoch - 1 + p.step / p.stepsPerEpoch) / totalEpochs);
        const rate = stepsSeen / ((performance.now() - t0) / 1000);
        if (this.phase === 'training') controls.status(this.statusLine(`${rate.toFixed(1)} steps/s`));
        const x = p.epoch - 1 + p.step / p.stepsPerEpoch;
        p.taskLoss.forEach((l, k) => m.run.running[k]?.push({ x, y: l }));
        charts.request();
      },
      onEpoch: async (scaled) => {
        const report = epochInTargetUnits(scaled, m.targets);
        m.history.push(report);
        m.position = null;
        epochBase = m.trainer.steps;
        epoch = report.epoch + 1;
        m.run.epochs.push(epochPoint(report, dataset.tasks));
        charts.request();
        lastGates = performance.now();
        const n = (dataset.validation ?? dataset.train).rows;
        await this.refreshGates(m, report.validation?.gates, `Mean weights over the ${n} validation samples after epoch ${report.epoch}.`);
      },
    });
    m.position = result.stoppedAt ?? null;
    if (!result.stoppedAt && trainData.test) m.test = reportInTargetUnits(await evaluate(m.trainer, trainData.test, dataset.tasks), m.targets);
    m.run.finished = true;
    charts.flush();
    if (result.stoppedAt) {
      const { epoch: e, step, stepsPerEpoch: n } = result.stoppedAt;
      this.setPhase('stopped', `Stopped during epoch ${e} (${Math.round((100 * step) / n)}%: ${step} of ${n} steps); ${this.summary(m)} Tick "Continue" and press Start to finish the epoch and go on.`);
    } else {
      controls.progress(1);
      this.setPhase(this.stopRequested ? 'stopped' : 'done', `${this.stopRequested ? 'Stopped' : 'Done'} after epoch ${m.history[m.history.length - 1]?.epoch ?? '–'}. ${this.summary(m)}`);
    }
  }

  /** The last epoch's validation metrics and the test metrics, in words. */
  private summary(m: Model): string {
    const tasks = m.dataset?.tasks ?? [];
    const words = (r: EvalReport | undefined) =>
      r
        ? tasks
            .map((t) => {
              const v = r.tasks[t.name];
              const x = t.type === 'binary' ? v?.auc : v?.mse;
              return `${t.name} ${metricName(t)} ${typeof x === 'number' ? x.toFixed(t.type === 'binary' ? 3 : 4) : '–'}`;
            })
            .join(', ')
        : '';
    const last = m.history[m.history.length - 1];
    const parts = [];
    if (last?.validation) parts.push(`Validation after epoch ${last.epoch}: ${words(last.validation)}.`);
    if (m.test) parts.push(`Test: ${words(m.test)}.`);
    return parts.join(' ');
  }

  togglePause(): void {
    if (this.phase === 'paused') {
      this.paused = false;
      this.resume?.();
    } else {
      this.paused = true;
      this.views.controls.status(this.statusLine('pausing after the current step…'));
    }
  }

  stop(): void {
    this.stopRequested = true;
    this.paused = false;
    this.resume?.();
    this.setPhase('stopping', this.statusLine('stopping after the current step…'));
  }

  /** Destroys the GPU device, as a driver reset would lose it (for the end-to-end test of that path); the CPU device is never lost. */
  loseDeviceForTest(): void {
    if (!(this.ctx instanceof GpuContext)) throw new Error(`no GPU device to lose: training on ${this.ctx ? 'the CPU device' : 'no device'}`);
    this.ctx.device.destroy();
  }

  /** Clears every run but the model in the tab from the charts. */
  clearRuns(): void {
    this.views.charts.clearOthers(this.model?.run);
  }

  // -------------------------------------------------------------------------------------------
  // Gates and the seesaw

  private gateSample(split: Split, tasks: Dataset['tasks'], inputDim: number): GateSample & { x: Float32Array; categorical?: Int32Array } {
    const rows = split.rows;
    const K = tasks.length;
    const classes = tasks.map((t, k) => {
      const y = Float32Array.from({ length: rows }, (_, r) => split.labels[r * K + k]);
      const sorted = Float32Array.from(y.filter((v) => !Number.isNaN(v))).sort();
      const cut = t.type === 'binary' ? 0.5 : (sorted[sorted.length >> 1] ?? 0);
      return Uint8Array.from(y, (v) => (v > cut ? 1 : 0));
    });
    return { rows, classes, gates: [], x: split.x.subarray(0, rows * inputDim), categorical: split.categorical };
  }

  /** Runs the model on the gate sample; the heat map shows `reports` when given, else the sample's own statistics. */
  private async refreshGates(m: Model, reports?: EvalReport['gates'], caption?: string): Promise<void> {
    if (!m.dataset || !m.gateRows || !this.views.gates.hasGates) return;
    const sample = this.gateSample(m.gateRows, m.dataset.tasks, m.dataset.inputDim);
    const { gates } = await m.trainer.infer(sample.x, sample.rows, true, sample.categorical);
    m.sample = { gates, rows: sample.rows, classes: sample.classes };
    if (!reports) {
      reports = gateReportsOf(m.trainer.spec, gates, sample.rows);
      caption = `Mean weights over ${sample.rows} validation samples, during training (step ${m.trainer.steps}).`;
    }
    this.views.gates.show(reports, caption ?? '', m.sample);
    this.gateUpdates++;
  }

  private syncSeesaw(taskNames: string[]): void {
    this.seesawTasks = taskNames;
    this.onSeesawTasks?.(taskNames);
  }
  /** The tasks of the current run (the seesaw's axis choices); set by the page. */
  seesawTasks: string[] = [];
  onSeesawTasks: ((taskNames: string[]) => void) | null = null;

  // -------------------------------------------------------------------------------------------
  // Files

  /** A data file picked: its roles, and (when the loaded model's data is this file) the model's gates on it. */
  async pickFile(file: File | undefined): Promise<void> {
    const { controls, picker, form } = this.views;
    controls.clearError();
    this.file = null;
    picker.clear();
    form.showStreamOptions(false);
    if (!file) return;
    try {
      this.file = await readDataFile(file);
      const m = this.model;
      const d = m?.data && m.data.kind !== 'synthetic' && m.data.source === file.name ? m.data : null;
      const f = this.file;
      if (f.format === 'csv') {
        picker.render(f.parsed, d?.schema);
      } else {
        const rows = f.rows.rows === undefined ? '' : `${f.rows.rows} rows, `;
        const shown = f.sample.rows.length < SAMPLE_ROWS ? `its ${f.sample.rows.length} rows` : `its first ${f.sample.rows.length} rows`;
        picker.render(f.sample, d?.schema, {
          sample: f.sample.rows.length >= SAMPLE_ROWS,
          kinds: f.kinds,
          summary: `${f.source}: ${f.format === 'parquet' ? 'Parquet' : 'Arrow IPC'}, ${rows}${f.sample.header.length} columns, streamed in chunks in this tab (never read whole). The roles' examples and checks come from ${shown}.`,
        });
        form.showStreamOptions(true);
      }
      if (d && m) {
        form.applyData(d, this.file);
        await this.attachData(m, d);
      }
    } catch (e) {
      this.file = null;
      picker.clear(`${file.name} could not be read.`);
      this.showError(e);
    }
  }

  /** Builds a model's data when it is at hand and shows the model's gates on it. */
  private async attachData(m: Model, d: DataDescriptor): Promise<void> {
    let dataset: Dataset | StreamDataset;
    let encoder: TabularEncoder | null;
    try {
      const built = await buildData(d, this.file);
      dataset = datasetForConfig(built.dataset, m.trainer.spec.config);
      encoder = built.encoder;
    } catch {
      return; // not at hand yet (a data file to pick): the checkpoint summary says so
    }
    if (this.mismatch(m.trainer, dataset)) return;
    m.dataset = dataset;
    m.encoder = encoder;
    m.gateRows = await gateRowsOf(dataset);
    const last = m.history[m.history.length - 1];
    await this.refreshGates(m, last?.validation?.gates, last ? `Mean weights after epoch ${last.epoch} (from the checkpoint).` : undefined);
  }

  /** A checkpoint picked: the form shows its model, the charts its history, the gates its weights on its data; Continue trains it. */
  async loadCheckpoint(file: File | undefined): Promise<string> {
    const { controls, form, charts, gates } = this.views;
    controls.clearError();
    if (!file) return '';
    let trainer: Trainer | null = null;
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const ckpt = readCheckpoint(bytes, file.name);
      const t: Partial<TrainingState> = ckpt.training ?? {};
      // The seed: the page's own setting, or the --seed of a checkpoint npm start wrote.
      const seed = t.options?.seed ?? (typeof t.flags?.seed === 'string' ? Number(t.flags.seed) : undefined);
      const d = descriptorOf(ckpt.data);
      const family = t.model ?? familyOptionsOf(ckpt.config, t.family);
      const targets = t.targets === undefined ? NO_SCALING : targetScalingFromJSON(t.targets, file.name);
      const c = await this.device();
      trainer = await trainerFromCheckpoint(c, ckpt, { batchSize: t.options?.batchSize ?? form.training().batchSize }, file.name);

      form.applyModel(family);
      form.applyTaskWeights(ckpt.config.tasks.map((x) => x.weight));
      form.applyTraining({ batchSize: trainer.batchSize, learningRate: t.options?.learningRate ?? ckpt.optimizer.lr, seed }, targets.tasks.length > 0 || undefined);
      if (d) form.applyData(d, this.file);

      const tasks = ckpt.config.tasks.map((x) => ({ name: x.name, type: x.type }));
      const history = [...(t.history ?? [])];
      const run = this.newRun(family, d, { tasks }, `${file.name} (loaded)`);
      for (const h of history) run.epochs.push(epochPoint(h, tasks));
      run.finished = true;
      this.model?.trainer.destroy();
      const m: Model = {
        trainer,
        family,
        data: d,
        dataset: null,
        encoder: null,
        gateRows: null,
        targets,
        history,
        position: t.position ?? null,
        options: { epochs: t.epoch ?? history.length, batchSize: trainer.batchSize, learningRate: ckpt.optimizer.lr, seed: seed ?? form.training().seed },
        run,
        sample: null,
        name: file.name,
        device: deviceRecord(c),
        lost: false,
      };
      trainer = null;
      this.model = m;
      gates.setModel(m.trainer.spec, tasks.map((x) => x.name));
      this.syncSeesaw(tasks.map((x) => x.name));
      if (d) await this.attachData(m, d);
      charts.flush();
      form.continueBox.checked = true;
      const needsFile = d && d.kind !== 'synthetic' && !m.dataset;
      const where = m.position ? ` It stopped during epoch ${m.position.epoch} (${m.position.step} of ${m.position.stepsPerEpoch} steps); continuing finishes that epoch.` : '';
      this.setPhase(
        'ready',
        `Loaded ${file.name}.${where} ${needsFile ? `Pick its ${d.kind === 'csv' ? 'CSV' : 'data'} file ${d.source} to see its gates and to continue it. ` : ''}Press Start to continue training it, or untick "Continue" to train a new model.`,
      );
      return `${file.name}: ${describeConfig(family, ckpt.config)}; ${ckpt.step} optimizer steps${history.length ? `, ${history[history.length - 1].epoch} epochs` : ''}.${d ? '' : ' It does not say how its data was made: set up the same data (synthetic settings, or the data file and roles) to view its gates or continue it.'}`;
    } catch (e) {
      trainer?.destroy();
      this.showError(e);
      this.setPhase(this.ctx ? 'ready' : this.phase, this.ctx ? `${file.name} was not loaded (see the message above).${this.model ? ' The model in the tab is unchanged.' : ''}` : undefined);
      return '';
    }
  }

  /** What "Download ONNX" and "Predict on a CSV" use (demo/serving.ts): the model, its target scaling, its data's encoder. */
  servingModel(): ServingModel | null {
    const m = this.model;
    return m && { trainer: m.trainer, name: m.family.family, targets: m.targets, encoder: () => m.encoder };
  }

  // -------------------------------------------------------------------------------------------
  // Downloads

  async downloadCheckpoint(): Promise<void> {
    const m = this.model;
    if (!m) return;
    try {
      const epoch = m.history[m.history.length - 1]?.epoch ?? 0;
      const training: TrainingMeta = { epoch, position: m.position ?? undefined, family: m.family.family, model: m.family, history: m.history, options: m.options, targets: m.targets };
      // With the CSV encoder beside the descriptor, `npm start -- predict` can score files with this checkpoint.
      const encoder = m.encoder;
      const bytes = await checkpointBytes(m.trainer, { training, data: m.data ? { ...m.data, ...(encoder && { encoder: encoder.toJSON() }) } : undefined });
      const at = m.position ? `epoch${m.position.epoch}-step${m.position.step}` : `epoch${epoch}`;
      download(bytes as BlobPart, `${m.family.family}-${at}.safetensors`, 'application/octet-stream');
    } catch (e) {
      this.showError(e);
    }
  }

  downloadMetrics(): void {
    const m = this.model;
    if (!m) return;
    const metrics = {
      generator: 'ple-webgpu demo',
      dataset: m.dataset?.name,
      data: m.data,
      device: m.device,
      model: m.family,
      config: m.trainer.spec.config,
      options: m.options,
      targets: m.targets,
      epochs: m.history,
      position: m.position ?? undefined,
      test: m.test,
    };
    download(JSON.stringify(metrics, null, 2), `${m.family.family}-metrics.json`, 'application/json');
  }
}

/**
 * The header's line for a chosen device: `Adapter: <adapter>` on WebGPU; on the CPU device, its
 * threads and why it was chosen (auto's reason, or the `?device=cpu` that asked for it).
 */
function deviceLine(chosen: TrainingDevice, choice: DeviceChoice): string {
  if (chosen.device instanceof GpuContext) return `Adapter: ${formatAdapter(chosen.device.adapter)}`;
  return `Device: CPU (WebAssembly SIMD) on ${chosen.device.describeThreads()} — ${chosen.reason || `as ?device=${choice} asks`}`;
}

function describeConfig(family: FamilyOptions, c: Checkpoint['config']): string {
  const levels = c.levels.map((l) => `[${l.taskExperts.join('/')} task + ${l.sharedExperts} shared × ${l.expertWidths.join(',')}]`).join(' → ');
  return `${FAMILY_NAMES[family.family]}, ${c.levels.length} level(s) ${levels}, towers ${c.towerWidths.join(',') || 'none'}, tasks ${c.tasks.map((t) => `${t.name} (${t.type})`).join(', ')}, ${c.inputDim} dense inputs${c.embeddings.length ? `, ${c.embeddings.length} embedding tables` : ''}`;
}

/** The gate views' sample: up to 400 validation rows (training rows without a validation split), read from the start of a stream. */
function gateRowsOf(dataset: Dataset | StreamDataset): Promise<Split> {
  return headOf(dataset.validation ?? dataset.train, 400, dataset.inputDim, dataset.tasks.length);
}
