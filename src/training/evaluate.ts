/** Evaluation over a whole split: per-task metrics, losses and gate statistics. */
import type { Trainer } from '../trainer.js';
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
  /** Mean over tasks of the masked per-task loss (log loss or MSE). */
  loss: number;
  taskLoss: number[];
  tasks: Record<string, TaskMetrics>;
  gates: GateReport[];
}

export async function evaluate(trainer: Trainer, split: Split, tasks: TaskInfo[]): Promise<EvalReport> {
  const { predictions, gates } = await trainer.infer(split.x, split.rows, true);
  const K = tasks.length;
  const column = (a: Float32Array, k: number) => Float32Array.from({ length: split.rows }, (_, r) => a[r * K + k]);
  const taskLoss = tasks.map((t, k) => {
    const y = column(split.labels, k);
    const m = column(split.mask, k);
    return t.type === 'binary' ? logLoss(predictions[k], y, m) : mse(predictions[k], y, m);
  });
  const gateReports: GateReport[] = [];
  trainer.spec.levels.forEach((level, j) => {
    for (const gate of level.gates) {
      const n = gate.members.length;
      const w = new Float32Array(split.rows * n);
      for (let r = 0; r < split.rows; r++) w.set(gates[j].subarray(r * level.gateColumns + gate.column, r * level.gateColumns + gate.column + n), r * n);
      gateReports.push({ level: j, gate: gate.name, experts: gate.members, ...gateStatistics(w, split.rows, n) });
    }
  });
  const finite = taskLoss.filter(Number.isFinite);
  return {
    loss: finite.reduce((a, b) => a + b, 0) / Math.max(1, finite.length),
    taskLoss,
    tasks: taskMetrics(tasks, predictions, split.labels, split.mask),
    gates: gateReports,
  };
}
