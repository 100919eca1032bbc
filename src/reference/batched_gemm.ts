/** CPU reference of shaders/batched_gemm.wgsl, in float64, on flat arrays. */
import type { GemmEntry } from '../kernels/batched_gemm.js';

export function gemmReference(
  entries: readonly GemmEntry[],
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: Float64Array,
  bias?: ArrayLike<number>,
): void {
  for (const e of entries) {
    for (let i = 0; i < e.m; i++) {
      for (let j = 0; j < e.n; j++) {
        let s = 0;
        for (let k = 0; k < e.k; k++) s += a[e.aOff + i * e.aRow + k * e.aCol] * b[e.bOff + k * e.bRow + j * e.bCol];
        if (e.biasOff !== undefined) s += bias![e.biasOff + j];
        const at = e.cOff + i * e.cRow + j;
        if (e.accumulate) s += c[at];
        c[at] = e.relu ? Math.max(0, s) : s;
      }
    }
  }
}
