/** CPU reference of shaders/optimizer.wgsl, in float64 (PyTorch's update rules). */
import type { ResolvedOptimizer } from '../config.js';

export function optimizerReference(
  o: ResolvedOptimizer,
  t: number,
  lr: number,
  gradScale: number,
  params: Float64Array,
  grads: ArrayLike<number>,
  m1: Float64Array,
  m2: Float64Array,
  /** Weight decay applies to params [0, decayEnd) only (the log-variances past it never decay). */
  decayEnd = params.length,
): void {
  const bc1 = 1 - Math.pow(o.beta1, t);
  const bc2 = 1 - Math.pow(o.beta2, t);
  for (let i = 0; i < params.length; i++) {
    let p = params[i];
    let g = grads[i] * gradScale;
    const wd = i < decayEnd ? o.weightDecay : 0;
    if (o.kind === 'sgd') {
      g += wd * p;
      m1[i] = o.momentum * m1[i] + g;
      p -= lr * m1[i];
    } else {
      if (o.kind === 'adam') g += wd * p;
      else p -= lr * wd * p;
      m1[i] = o.beta1 * m1[i] + (1 - o.beta1) * g;
      m2[i] = o.beta2 * m2[i] + (1 - o.beta2) * g * g;
      p -= (lr * (m1[i] / bc1)) / (Math.sqrt(m2[i] / bc2) + o.eps);
    }
    params[i] = p;
  }
}
