/** The embedding kernels against src/reference/embedding.ts: lookup, and table gradients through the CSR. */
import { describe, expect, it } from 'vitest';
import { csrWords, embeddingBackwardDispatch, embeddingGatherDispatch, writeCsr, type GatherEntry, type ScatterEntry } from '../src/kernels/embedding.js';
import { embeddingBackwardReference, embeddingGatherReference } from '../src/reference/embedding.js';
import { Rng } from '../src/rng.js';
import { caseSeed, expectClose } from './helpers.js';
import { checkWrites, download, run, testContext, upload } from './gpu.js';

const tables = [
  { vocabulary: 1, dim: 3 },
  { vocabulary: 50, dim: 5 },
  { vocabulary: 7, dim: 1 },
];

describe('embedding kernels', () => {
  for (const rows of [1, 67]) {
    it(`lookup and backward, ${rows} rows`, async () => {
      const ctx = await testContext();
      const seed = caseSeed(`embedding ${rows}`);
      const rng = new Rng(seed);
      const T = tables.length;
      const B = rows + 3; // capacity above the rows used, as in a padded batch
      const width = 2 + tables.reduce((a, t) => a + t.dim, 0) + 1;
      const index = Array.from({ length: rows * T }, (_, i) => rng.int(0, Math.min(4, tables[i % T].vocabulary - 1)));
      // Input buffer: indices (as u32 words) then, after a gap, the CSR of every table.
      const csrAt = rows * T + 5;
      const words = new Uint32Array(csrAt + T * csrWords(B));
      index.forEach((v, i) => (words[i] = v));
      tables.forEach((_, t) => writeCsr(words, csrAt + t * csrWords(B), B, (r) => index[r * T + t], rows));
      const input = ctx.createDataBuffer('input', words, GPUBufferUsage.STORAGE);
      // Tables side by side at odd offsets.
      let at = 3;
      const tableOff = tables.map((t) => ((at += t.vocabulary * t.dim + 1), at - t.vocabulary * t.dim - 1));
      const tableData = Float32Array.from({ length: at }, () => rng.normal());
      let column = 2;
      const columns = tables.map((t) => ((column += t.dim), column - t.dim));

      const gather: GatherEntry[] = tables.map((t, z) => ({ rows, dim: t.dim, vocabulary: t.vocabulary, idxOff: z, idxRow: T, tableOff: tableOff[z], xOff: columns[z], xRow: width }));
      const x = upload(ctx, new Float32Array(rows * width).fill(NaN));
      await run(ctx, [await embeddingGatherDispatch(ctx, 'test', gather, { indices: input, tables: upload(ctx, tableData), x })]);
      const gotX = await download(ctx, x, rows * width);
      const wantX = new Float64Array(rows * width).fill(NaN);
      embeddingGatherReference(gather, index, tableData, wantX);
      const written = new Set<number>();
      for (const e of gather) for (let r = 0; r < rows; r++) for (let j = 0; j < e.dim; j++) written.add(e.xOff + r * e.xRow + j);
      checkWrites('lookup', gotX, written);
      expect([...written].map((i) => gotX[i])).toEqual([...written].map((i) => wantX[i])); // a copy: exact

      const groups = 3;
      const dx = Float32Array.from({ length: groups * B * width }, () => rng.normal());
      const scatter: ScatterEntry[] = tables.map((t, z) => ({
        capacity: B, dim: t.dim, csrOff: csrAt + z * csrWords(B), dxOff: columns[z], dxRow: width, groups, groupStride: B * width, gradOff: tableOff[z],
      }));
      // Rows the batch does not look up keep what they held (the runtime clears them first).
      const grad0 = Float32Array.from(tableData, () => rng.normal());
      const grad = upload(ctx, grad0);
      await run(ctx, [await embeddingBackwardDispatch(ctx, 'test', scatter, tables.map((t) => t.vocabulary), { csr: input, dx: upload(ctx, dx), grad })]);
      const gotGrad = await download(ctx, grad, at);
      const wantGrad = Float64Array.from(grad0);
      embeddingBackwardReference(scatter, tables.map((_, z) => (r: number) => index[r * T + z]), rows, dx, wantGrad);
      expectClose('table gradients', seed, gotGrad, wantGrad, 1e-6);
    });
  }
});
