/** CPU reference of shaders/bias_act_backward.wgsl, in float64. */
import type { BiasActEntry } from '../kernels/bias_act_backward.js';

export function biasActBackwardReference(entries: readonly BiasActEntry[], dY: Float64Array, y: ArrayLike<number>, db: Float64Array): void {
  for (const e of entries) {
    for (let c = 0; c < e.cols; c++) {
      let s = 0;
      for (let r = 0; r < e.rows; r++) {
        const at = e.dyOff + r * e.dyRow + c;
        if (e.relu && !(y[e.yOff + r * e.yRow + c] > 0)) dY[at] = 0;
        s += dY[at];
      }
      if (e.dbOff !== undefined) db[e.dbOff + c] = s;
    }
  }
}
