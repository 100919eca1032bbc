/** Evaluation over a whole split: per-task metrics, losses and gate statistics. */
import type { Trainer } from '../trainer.js';
import type { ModelSpec } from '../spec.js';
import type { Split, TaskInfo } from '../data/dataset.js';
import { gateStatistics, logLoss, mse, taskMetrics, type TaskMetrics } from '../metrics.js';

export interface GateReport {
  level: number;
  gate: string;
  /** Expert indices of the level the gate mixes, in order. */
  experts: number[];
  /** Mean weight of each expert over the evaluated samples (expert utilisation). */
  meanWeights: number[];
  /** Mean per-sample entropy / log(n): 1 = uniform mixing, 0 = one expert per sample. */
  normalisedEntropy: number;
  /** Mean of the largest weight per sample. */
  meanMax: number;
}

export interface EvalReport {
  /** sum_k w_k L_k over the split with the config's static weights (PLE eq. 8; log loss or MSE per task). */
  loss: number;
  taskLoss: number[];
  tasks: Record<string, TaskMetrics>;
  gates: GateReport[];
}

/** Gate statistics per level and gate from `Trainer.infer`'s per-level gate weights ([rows x gateColumns]). */
export function gateReportsOf(spec: ModelSpec, gates: Float32Array[], rows: number): GateReport[] {
  const reports: GateReport[] = [];
  spec.levels.forEach((level, j) => {
    for (const gate of level.gates) {
      const n = gate.members.length;
      const w = new Float32Array(rows * n);
      for (let r = 0; r < rows; r++) w.set(gates[j].subarray(r * level.gateColumns + gate.column, r * level.gateColumns + gate.column + n), r * n);
      reports.push({ level: j, gate: gate.name, experts: gate.members, ...gateStatistics(w, rows, n) });
    }
  });
  return reports;
}

export async function evaluate(trainer: Trainer, split: Split, tasks: TaskInfo[]): Promise<EvalReport> {
  const { predictions, gates } = await trainer.infer(split.x, split.rows, true, split.categorical);
  const K = tasks.length;
  const column = (a: Float32Array, k: number) => Float32Array.from({ length: split.rows }, (_, r) => a[r * K + k]);
  const taskLoss = tasks.map((t, k) => {
    const y = column(split.labels, k);
    const m = column(split.mask, k);
    return t.type === 'binary' ? logLoss(predictions[k], y, m) : mse(predictions[k], y, m);
  });
  const gateReports = gateReportsOf(trainer.spec, gates, split.rows);
  const weights = trainer.spec.config.tasks.map((t) => t.weight);
  return {
    loss: taskLoss.reduce((a, l, k) => a + (Number.isFinite(l) ? weights[k] * l : 0), 0),
    taskLoss,
    tasks: taskMetrics(tasks, predictions, split.labels, split.mask),
    gates: gateReports,
  };
}
