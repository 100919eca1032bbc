/** Terminal output of the main job: a progress bar and a per-epoch metrics table. */
import type { EpochReport } from '../training/fit.js';
import type { EvalReport } from '../training/evaluate.js';
import type { TaskInfo } from '../data/dataset.js';

export function progressLine(epoch: number, epochs: number, step: number, steps: number, loss: number): string {
  const width = 24;
  const done = Math.round((step / steps) * width);
  return `epoch ${epoch}/${epochs} [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${String(step).padStart(String(steps).length)}/${steps} loss ${loss.toFixed(4)}`;
}

/** The metric shown for a task: AUC for binary tasks, MSE for regression. */
export function headline(task: TaskInfo, report: EvalReport): string {
  const m = report.tasks[task.name];
  if (!m) return '-';
  const v = task.type === 'binary' ? m.auc : m.mse;
  return v === undefined || Number.isNaN(v) ? '-' : v.toFixed(4);
}

function columns(tasks: TaskInfo[]): string[] {
  return ['epoch', 'train loss', 'val loss', ...tasks.map((t) => `${t.name} ${t.type === 'binary' ? 'AUC' : 'MSE'}`), 'sec'];
}

const pad = (cells: string[], names: string[]) => cells.map((c, i) => c.padStart(Math.max(10, names[i].length))).join(' ');

export function tableHeader(tasks: TaskInfo[]): string {
  const names = columns(tasks);
  return pad(names, names);
}

export function tableRow(tasks: TaskInfo[], r: EpochReport): string {
  const cells = [
    String(r.epoch),
    r.train.loss.toFixed(4),
    r.validation ? r.validation.loss.toFixed(4) : '-',
    ...tasks.map((t) => (r.validation ? headline(t, r.validation) : '-')),
    r.seconds.toFixed(1),
  ];
  return pad(cells, columns(tasks));
}
