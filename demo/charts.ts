/**
 * The demo's live charts (Chart.js): loss per task, the validation metric per task, and the
 * seesaw view (one task's metric against the other's, one point per epoch and per run).
 * Runs are kept as plain records; charts are redrawn from them at a bounded rate.
 */
import {
  Chart,
  Legend,
  LinearScale,
  LogarithmicScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
  type ChartDataset,
  type ScatterDataPoint,
} from 'chart.js';
import type { EpochReport, TaskInfo } from '../src/index.js';

Chart.register(LineController, ScatterController, LineElement, PointElement, LinearScale, LogarithmicScale, Legend, Tooltip);

export const TASK_COLORS = ['#2f6fdb', '#e8590c', '#2b8a3e', '#9c36b5', '#c2255c', '#0c8599'];
const RUN_COLORS = ['#2f6fdb', '#e8590c', '#2b8a3e', '#9c36b5', '#c2255c', '#0c8599', '#5c940d', '#862e9c', '#d9480f', '#364fc7'];

/** What a run plots: one point per finished epoch, plus the running training loss within epochs. */
export interface EpochPoint {
  epoch: number;
  trainTaskLoss: number[];
  validationTaskLoss?: number[];
  /** Per task: validation AUC (binary) or MSE (regression); null when there is none. */
  metric: (number | null)[];
}

export interface RunRecord {
  id: number;
  label: string;
  /** Runs on the same data (same key) compare on the seesaw. */
  dataKey: string;
  tasks: TaskInfo[];
  epochs: EpochPoint[];
  /** Per task: x = fractional epoch, y = the running mean of the task's training loss within the epoch. */
  running: { x: number; y: number }[][];
  finished: boolean;
}

export const metricName = (t: TaskInfo) => (t.type === 'binary' ? 'AUC' : 'MSE');

export function epochPoint(report: EpochReport, tasks: TaskInfo[]): EpochPoint {
  const v = report.validation;
  return {
    epoch: report.epoch,
    trainTaskLoss: report.train.taskLoss,
    validationTaskLoss: v?.taskLoss,
    metric: tasks.map((t) => {
      const m = v?.tasks[t.name];
      const value = t.type === 'binary' ? m?.auc : m?.mse;
      return typeof value === 'number' && Number.isFinite(value) ? value : null;
    }),
  };
}

type XY = { x: number; y: number };
type PlotDataset = { label: string; data: XY[] };

const common = {
  animation: false as const,
  responsive: true,
  maintainAspectRatio: false,
  parsing: false as const,
  normalized: true,
  interaction: { mode: 'nearest' as const, intersect: false },
  plugins: { legend: { labels: { usePointStyle: true, font: { size: 11 } } } },
};

export class Charts {
  readonly runs: RunRecord[] = [];
  private readonly loss: Chart<'line', ScatterDataPoint[]>;
  private readonly metric: Chart<'line', ScatterDataPoint[]>;
  private readonly seesaw: Chart<'scatter', ScatterDataPoint[]>;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private last = 0;
  /** Redraws done (the test checks they stay bounded). */
  redraws = 0;
  seesawTasks: [string, string] | null = null;

  constructor(
    canvases: { loss: HTMLCanvasElement; metric: HTMLCanvasElement; seesaw: HTMLCanvasElement },
    private readonly minInterval = 300,
  ) {
    const epochAxis = { type: 'linear' as const, title: { display: true, text: 'epoch' }, ticks: { precision: 0 }, min: 0 };
    this.loss = new Chart(canvases.loss, {
      type: 'line',
      data: { datasets: [] },
      // A log axis: the first steps' losses are many times the later ones and would flatten them.
      options: { ...common, scales: { x: epochAxis, y: { type: 'logarithmic', title: { display: true, text: 'loss (log loss / MSE), log scale' } } } },
    });
    this.metric = new Chart(canvases.metric, {
      type: 'line',
      data: { datasets: [] },
      options: {
        ...common,
        scales: {
          x: { ...epochAxis, min: 1 },
          auc: { type: 'linear', position: 'left', display: 'auto', title: { display: true, text: 'AUC (higher is better)' } },
          mse: { type: 'linear', position: 'right', display: 'auto', title: { display: true, text: 'MSE (lower is better)' } },
        },
      },
    });
    this.seesaw = new Chart(canvases.seesaw, {
      type: 'scatter',
      data: { datasets: [] },
      options: {
        ...common,
        interaction: { mode: 'nearest', intersect: true },
        plugins: {
          legend: { labels: { usePointStyle: true, pointStyle: 'circle', font: { size: 11 } } },
          tooltip: {
            callbacks: {
              label: (item) => {
                const p = item.raw as XY & { epoch?: number };
                return `${item.dataset.label} epoch ${p.epoch}: (${p.x.toFixed(4)}, ${p.y.toFixed(4)})`;
              },
            },
          },
        },
        scales: { x: { type: 'linear', title: { display: true, text: 'task 1' } }, y: { type: 'linear', title: { display: true, text: 'task 2' } } },
      },
    });
  }

  get current(): RunRecord | undefined {
    return this.runs[this.runs.length - 1];
  }

  private nextId = 1;

  addRun(label: string, dataKey: string, tasks: TaskInfo[]): RunRecord {
    const run: RunRecord = { id: this.nextId++, label, dataKey, tasks, epochs: [], running: tasks.map(() => []), finished: false };
    this.runs.push(run);
    this.request();
    return run;
  }

  /** Removes every run but `keep` (the model in the tab, whose curves, gates and status stay). */
  clearOthers(keep: RunRecord | undefined): void {
    for (let i = this.runs.length - 1; i >= 0; i--) if (this.runs[i] !== keep) this.runs.splice(i, 1);
    if (keep && this.runs.length === 0) this.runs.push(keep);
    this.request();
  }

  /** The current run last (the charts plot it). */
  makeCurrent(run: RunRecord): void {
    const i = this.runs.indexOf(run);
    if (i >= 0) this.runs.splice(i, 1);
    this.runs.push(run);
    this.request();
  }

  /** Asks for a redraw; redraws happen at most once per minInterval ms. */
  request(): void {
    if (this.timer !== null) return;
    const wait = Math.max(0, this.last + this.minInterval - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.last = performance.now();
      this.draw();
    }, wait);
  }

  /** Redraws now (used before screenshots and downloads). */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.last = performance.now();
    this.draw();
  }

  private draw(): void {
    this.redraws++;
    const run = this.current;
    const lossSets: ChartDataset<'line', ScatterDataPoint[]>[] = [];
    const metricSets: ChartDataset<'line', ScatterDataPoint[]>[] = [];
    if (run) {
      run.tasks.forEach((t, k) => {
        const color = TASK_COLORS[k % TASK_COLORS.length];
        lossSets.push({ ...line(`${t.name} train`, color, run.epochs.map((e) => ({ x: e.epoch, y: e.trainTaskLoss[k] }))), pointStyle: 'circle' });
        const val = run.epochs.filter((e) => e.validationTaskLoss).map((e) => ({ x: e.epoch, y: e.validationTaskLoss![k] }));
        // Hollow diamonds on a dashed line: told apart from training in the legend too.
        if (val.length) lossSets.push({ ...line(`${t.name} validation`, color, val), borderDash: [6, 4], pointStyle: 'rectRot', pointRadius: 4, backgroundColor: '#fff' });
        lossSets.push({ ...line(`${t.name} running`, color, run.running[k] ?? []), borderWidth: 1, pointRadius: 0, pointStyle: 'line' });
        metricSets.push({
          ...line(`${t.name} ${metricName(t)}`, color, run.epochs.filter((e) => e.metric[k] !== null).map((e) => ({ x: e.epoch, y: e.metric[k]! }))),
          yAxisID: t.type === 'binary' ? 'auc' : 'mse',
        });
      });
    }
    // Room around the epoch points: one epoch's points do not sit on the chart's edge.
    const lastEpoch = Math.max(1, ...(run?.epochs.map((e) => e.epoch) ?? []), ...(run?.running.flat().map((p) => Math.ceil(p.x)) ?? []));
    (this.loss.options.scales!.x as { max?: number }).max = lastEpoch + 0.5;
    Object.assign(this.metric.options.scales!.x as object, { min: 0.5, max: lastEpoch + 0.5 });
    this.loss.data.datasets = lossSets;
    this.metric.data.datasets = metricSets;

    const pair = this.seesawTasks;
    const seesawSets: ChartDataset<'scatter', ScatterDataPoint[]>[] = [];
    if (pair) {
      for (const r of this.runs) {
        if (r.dataKey !== this.current?.dataKey) continue; // other data: not comparable
        const a = r.tasks.findIndex((t) => t.name === pair[0]);
        const b = r.tasks.findIndex((t) => t.name === pair[1]);
        if (a < 0 || b < 0) continue;
        const data = r.epochs
          .filter((e) => e.metric[a] !== null && e.metric[b] !== null)
          .map((e) => ({ x: e.metric[a]!, y: e.metric[b]!, epoch: e.epoch }));
        const color = RUN_COLORS[(r.id - 1) % RUN_COLORS.length];
        seesawSets.push({
          label: r.label,
          data,
          borderColor: color,
          backgroundColor: color,
          showLine: true,
          borderWidth: 1,
          pointRadius: data.map((_, i) => (i === data.length - 1 ? 5 : 3)),
        });
      }
      const ref = this.current?.tasks;
      const typeOf = (name: string) => ref?.find((t) => t.name === name);
      const axis = (name: string) => {
        const t = typeOf(name);
        return t ? `${name} ${metricName(t)} (${t.type === 'binary' ? 'higher' : 'lower'} is better)` : name;
      };
      const scales = this.seesaw.options.scales as Record<string, { title?: { text?: string } }>;
      scales.x.title!.text = axis(pair[0]);
      scales.y.title!.text = axis(pair[1]);
    }
    this.seesaw.data.datasets = seesawSets;

    this.loss.update('none');
    this.metric.update('none');
    this.seesaw.update('none');
  }

  /** What each chart shows, as plain data (for the end-to-end test). */
  plotted(): { loss: PlotDataset[]; metric: PlotDataset[]; seesaw: PlotDataset[] } {
    const plain = (c: Chart<'line' | 'scatter', ScatterDataPoint[]>) =>
      c.data.datasets.map((d) => ({ label: String(d.label), data: (d.data as XY[]).map((p) => ({ x: p.x, y: p.y })) }));
    return { loss: plain(this.loss as never), metric: plain(this.metric as never), seesaw: plain(this.seesaw as never) };
  }
}

function line(label: string, color: string, data: XY[]): ChartDataset<'line', ScatterDataPoint[]> {
  return { label, data, borderColor: color, backgroundColor: color, borderWidth: 2, pointRadius: 2.5, tension: 0 };
}
