/** CPU reference of shaders/task_loss.wgsl, in float64. */
import type { TaskLossEntry } from '../kernels/task_loss.js';
import { sampleLoss } from './model.js';

export function taskLossReference(
  entries: readonly TaskLossEntry[],
  weights: ArrayLike<number>,
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  dLogits: Float64Array,
  out: Float64Array,
): void {
  for (const e of entries) {
    let count = 0;
    let sum = 0;
    for (let r = 0; r < e.rows; r++) {
      dLogits[e.dOff + r] = 0;
      if (!(labels[e.maskOff + r * e.maskRow] > 0)) continue;
      const l = sampleLoss(e.type, logits[e.logitOff + r], labels[e.labelOff + r * e.labelRow]);
      count++;
      sum += l.loss;
      dLogits[e.dOff + r] = l.grad;
    }
    const scale = count > 0 ? weights[e.task] / count : 0;
    for (let r = 0; r < e.rows; r++) dLogits[e.dOff + r] *= scale;
    out[e.outOff + 2 * e.task] = count > 0 ? sum / count : 0;
    out[e.outOff + 2 * e.task + 1] = count;
  }
}
