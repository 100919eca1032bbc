/** Evaluation over a whole split: per-task metrics, losses and gate statistics. */
import type { Trainer } from '../trainer.js';
import type { ModelSpec } from '../spec.js';
import { chunksOf, type Split, type StreamSplit, type TaskInfo } from '../data/dataset.js';
import { gateStatistics, logLoss, mse, taskMetrics, type TaskMetrics } from '../metrics.js';

/** One gate's statistics over an evaluated split: how much it relies on each expert. */
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

/** A model's losses, metrics and gate statistics over a split ({@link evaluate}). */
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

/** Evaluates a split chunk by chunk (an in-memory split is one chunk); the gate statistics are means over all rows. */
export async function evaluate(trainer: Trainer, split: Split | StreamSplit, tasks: TaskInfo[]): Promise<EvalReport> {
  const K = tasks.length;
  const predictions = tasks.map(() => new Float32Array(split.rows));
  const logits = tasks.map(() => new Float32Array(split.rows));
  const labels = new Float32Array(split.rows * K);
  const mask = new Float32Array(split.rows * K);
  let gateReports: GateReport[] = [];
  let done = 0;
  for await (const chunk of chunksOf(split)) {
    if (done + chunk.rows > split.rows) throw new RangeError(`evaluate: the split says ${split.rows} rows but its chunks hold more`);
    const out = await trainer.infer(chunk.x, chunk.rows, true, chunk.categorical);
    out.predictions.forEach((p, k) => predictions[k].set(p.subarray(0, chunk.rows), done));
    out.logits.forEach((l, k) => logits[k].set(l.subarray(0, chunk.rows), done));
    labels.set(chunk.labels, done * K);
    mask.set(chunk.mask, done * K);
    const reports = gateReportsOf(trainer.spec, out.gates, chunk.rows);
    // Running means over the rows so far, weighted by rows.
    const a = done / (done + chunk.rows);
    const mix = (old: number, x: number) => (done === 0 ? x : a * old + (1 - a) * x);
    gateReports = reports.map((r, i) => {
      const old = gateReports[i];
      return done === 0
        ? r
        : { ...r, meanWeights: r.meanWeights.map((w, j) => mix(old.meanWeights[j], w)), normalisedEntropy: mix(old.normalisedEntropy, r.normalisedEntropy), meanMax: mix(old.meanMax, r.meanMax) };
    });
    done += chunk.rows;
  }
  if (done !== split.rows) throw new RangeError(`evaluate: the split says ${split.rows} rows but its chunks hold ${done}`);
  const column = (a: Float32Array, k: number) => Float32Array.from({ length: split.rows }, (_, r) => a[r * K + k]);
  const taskLoss = tasks.map((t, k) => {
    const y = column(labels, k);
    const m = column(mask, k);
    return t.type === 'binary' ? logLoss(predictions[k], y, m) : mse(predictions[k], y, m);
  });
  const weights = trainer.spec.config.tasks.map((t) => t.weight);
  return {
    loss: taskLoss.reduce((a, l, k) => a + (Number.isFinite(l) ? weights[k] * l : 0), 0),
    taskLoss,
    tasks: taskMetrics(tasks, predictions, labels, mask, logits),
    gates: gateReports,
  };
}
