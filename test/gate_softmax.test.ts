/** shaders/gate_softmax.wgsl against src/reference/gate_softmax.ts on random gates, strides and offsets. */
import { describe, expect, it } from 'vitest';
import { gateSoftmaxDispatch, type GateEntry } from '../src/kernels/gate_softmax.js';
import { gateSoftmaxReference } from '../src/reference/gate_softmax.js';
import { Rng } from '../src/rng.js';
import { caseSeed, expectClose } from './helpers.js';
import { checkWrites, contextFor, download, reductionPaths, run, upload } from './gpu.js';

type GateShape = { rows: number; n: number; k: number; weights: boolean; bias: boolean };

/**
 * Gates at padded offsets. X and W are random inside the gates' blocks and NaN in every gap,
 * so a read out of place would show as a non-finite weight.
 */
function randomCase(rng: Rng, shapes: GateShape[], scale: number) {
  const entries: GateEntry[] = [];
  const x: number[] = [NaN, NaN];
  const w: number[] = [NaN];
  let outLen = 3;
  const pad = (a: number[]) => { for (let i = rng.int(1, 3); i > 0; i--) a.push(NaN); };
  for (const s of shapes) {
    const xRow = s.k + rng.int(1, 3);
    const e: GateEntry = { rows: s.rows, n: s.n, k: s.k, xOff: x.length, xRow, outOff: outLen, outRow: s.n + rng.int(1, 3) };
    for (let r = 0; r < s.rows; r++) for (let a = 0; a < xRow; a++) x.push(a < s.k ? rng.normal() * scale : NaN);
    pad(x);
    if (s.weights) {
      e.wOff = w.length;
      for (let i = 0; i < s.k * s.n; i++) w.push(rng.normal() / Math.sqrt(s.k));
      pad(w);
    }
    if (s.bias) {
      e.bOff = w.length;
      for (let i = 0; i < s.n; i++) w.push(rng.normal());
      pad(w);
    }
    entries.push(e);
    outLen += s.rows * e.outRow + rng.int(1, 4);
  }
  return { entries, x: Float32Array.from(x), w: Float32Array.from(w), outLen };
}

const g = (rows: number, n: number, k: number, weights = true, bias = true): GateShape => ({ rows, n, k, weights, bias });
const cases: [string, GateShape[], number][] = [
  ['one gate, rows 1', [g(1, 3, 5)], 1],
  ['four gates, rows 3/67/130/1, with and without bias', [g(3, 4, 7), g(67, 2, 16, true, false), g(130, 6, 33), g(1, 5, 1, true, false)], 1],
  ['parameterless one-expert gate and a bias-only gate', [g(67, 1, 9, false, false), g(130, 3, 4), g(3, 4, 2, false, true)], 1],
  // Logits of tens: exp would overflow f32 without the max subtraction.
  ['large logits', [g(130, 5, 12), g(67, 7, 3)], 20],
];

describe('gate_softmax', () => {
  // Rows 3, 67 and 130 leave a lane group of 4 samples with 3 past the last one.
  for (const path of reductionPaths) for (const [caseLabel, shapes, scale] of cases) for (const rowsPerGroup of [1, 4]) {
    const label = `${path}: ${caseLabel}, ${rowsPerGroup} samples per lane group`;
    it(label, async () => {
      const ctx = await contextFor(path);
      const seed = caseSeed(label);
      const rng = new Rng(seed);
      const c = randomCase(rng, shapes, scale);
      const bufs = { x: upload(ctx, c.x), w: upload(ctx, c.w), out: upload(ctx, new Float32Array(c.outLen).fill(NaN)) };
      await run(ctx, [await gateSoftmaxDispatch(ctx, 'test', c.entries, bufs, path, { rowsPerGroup })]);
      const got = await download(ctx, bufs.out, c.outLen);
      const want = new Float64Array(c.outLen).fill(NaN);
      gateSoftmaxReference(c.entries, c.x, c.w, want);

      const written = new Set<number>();
      for (const e of c.entries) for (let r = 0; r < e.rows; r++) for (let j = 0; j < e.n; j++) written.add(e.outOff + r * e.outRow + j);
      checkWrites(label, got, written);
      const idx = [...written];
      expectClose(label, seed, idx.map((i) => got[i]), idx.map((i) => want[i]), 1e-5);
      // Every row is a distribution; a one-expert gate gives exactly 1.
      for (const e of c.entries) {
        for (let r = 0; r < e.rows; r++) {
          let sum = 0;
          for (let j = 0; j < e.n; j++) sum += got[e.outOff + r * e.outRow + j];
          expect(Math.abs(sum - 1), `${label}: row ${r} sums to ${sum} (seed ${seed})`).toBeLessThan(1e-5);
          if (e.n === 1) expect(got[e.outOff + r * e.outRow]).toBe(1);
        }
      }
      expect(idx.length).toBeGreaterThan(0);
    });
  }
});
