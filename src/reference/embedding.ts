/** CPU references of the embedding kernels (see src/kernels/embedding.ts), in float64. */
import type { GatherEntry, ScatterEntry } from '../kernels/embedding.js';

export function embeddingGatherReference(entries: readonly GatherEntry[], indices: ArrayLike<number>, tables: ArrayLike<number>, x: Float64Array): void {
  for (const e of entries) {
    for (let r = 0; r < e.rows; r++) {
      const row = indices[e.idxOff + r * e.idxRow];
      for (let j = 0; j < e.dim; j++) x[e.xOff + r * e.xRow + j] = tables[e.tableOff + row * e.dim + j];
    }
  }
}

/** Table gradients from the plain list of each sample's index (no CSR): rows not looked up stay as they are. */
export function embeddingBackwardReference(
  entries: readonly ScatterEntry[],
  indexOf: readonly ((r: number) => number)[],
  rows: number,
  dx: ArrayLike<number>,
  grad: Float64Array,
): void {
  entries.forEach((e, z) => {
    const seen = new Set<number>();
    for (let r = 0; r < rows; r++) {
      const row = indexOf[z](r);
      if (!seen.has(row)) {
        seen.add(row);
        for (let j = 0; j < e.dim; j++) grad[e.gradOff + row * e.dim + j] = 0;
      }
      for (let g = 0; g < e.groups; g++) {
        for (let j = 0; j < e.dim; j++) grad[e.gradOff + row * e.dim + j] += dx[e.dxOff + g * e.groupStride + r * e.dxRow + j];
      }
    }
  });
}
