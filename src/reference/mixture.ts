/** CPU references of the three mixture kernels (see src/kernels/mixture.ts), in float64. */
import { mixtureMember, type ExpertGradEntry, type GateGradEntry, type MixtureEntry } from '../kernels/mixture.js';

export function mixtureReference(entries: readonly MixtureEntry[], gateW: ArrayLike<number>, z: ArrayLike<number>, out: Float64Array): void {
  for (const e of entries) {
    for (let r = 0; r < e.rows; r++) {
      for (let o = 0; o < e.d; o++) {
        let s = 0;
        for (let j = 0; j < e.n; j++) s += gateW[e.wOff + r * e.wRow + j] * z[e.zOff + r * e.zRow + mixtureMember(e, j) * e.d + o];
        out[e.outOff + r * e.outRow + o] = s;
      }
    }
  }
}

export function gateGradReference(
  entries: readonly GateGradEntry[],
  gateW: ArrayLike<number>,
  z: ArrayLike<number>,
  dG: ArrayLike<number>,
  dLogit: Float64Array,
  /** Sum instead of subtract: on magnitudes, this gives the gradient's floating-point error scale. */
  magnitudes = false,
): void {
  for (const e of entries) {
    for (let r = 0; r < e.rows; r++) {
      const dw: number[] = [];
      for (let j = 0; j < e.n; j++) {
        let s = 0;
        for (let o = 0; o < e.d; o++) s += dG[e.dgOff + r * e.dgRow + o] * z[e.zOff + r * e.zRow + mixtureMember(e, j) * e.d + o];
        dw.push(s);
      }
      const w = (j: number) => gateW[e.wOff + r * e.wRow + j];
      const dot = dw.reduce((acc, v, j) => acc + w(j) * v, 0);
      dw.forEach((v, j) => (dLogit[e.dlOff + r * e.dlRow + j] = w(j) * (magnitudes ? v + dot : v - dot)));
    }
  }
}

export function expertGradReference(entries: readonly ExpertGradEntry[], gateW: ArrayLike<number>, dG: ArrayLike<number>, dZ: Float64Array): void {
  for (const e of entries) {
    for (let r = 0; r < e.rows; r++) {
      for (let o = 0; o < e.d; o++) {
        let s = 0;
        for (const m of e.members) s += gateW[e.wOff + r * e.wRow + m.wCol] * dG[m.dgOff + r * e.dgRow + o];
        dZ[e.dzOff + r * e.dzRow + o] = s;
      }
    }
  }
}
