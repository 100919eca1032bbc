/** CPU reference of shaders/gate_softmax.wgsl, in float64. */
import type { GateEntry } from '../kernels/gate_softmax.js';

export function gateSoftmaxReference(entries: readonly GateEntry[], x: ArrayLike<number>, w: ArrayLike<number>, out: Float64Array): void {
  for (const e of entries) {
    for (let r = 0; r < e.rows; r++) {
      const logits: number[] = [];
      for (let j = 0; j < e.n; j++) {
        let s = e.bOff !== undefined ? w[e.bOff + j] : 0;
        if (e.wOff !== undefined) for (let a = 0; a < e.k; a++) s += x[e.xOff + r * e.xRow + a] * w[e.wOff + a * e.n + j];
        logits.push(s);
      }
      const max = Math.max(...logits);
      const exps = logits.map((l) => Math.exp(l - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      exps.forEach((v, j) => (out[e.outOff + r * e.outRow + j] = v / sum));
    }
  }
}
