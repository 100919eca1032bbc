/** shaders/bias_act_backward.wgsl against src/reference/bias_act_backward.ts on random shapes, strides and flags. */
import { describe, expect, it } from 'vitest';
import { biasActBackwardDispatch, type BiasActEntry } from '../src/kernels/bias_act_backward.js';
import { biasActBackwardReference } from '../src/reference/bias_act_backward.js';
import { Rng } from '../src/rng.js';
import { caseSeed, expectClose } from './helpers.js';
import { checkWrites, download, run, testContext, upload } from './gpu.js';

/**
 * Entries of the given [rows x cols] shapes at padded offsets, with row strides wider than the
 * rows; with `align`, every offset and stride a multiple of 4 (and the widths given so), the
 * shape the kernel runs 4 columns per invocation on.
 */
function randomCase(rng: Rng, shapes: [number, number][], align: boolean) {
  const up = (v: number) => (align ? Math.ceil(v / 4) * 4 : v);
  const entries: BiasActEntry[] = [];
  let dyLen = up(3);
  let yLen = up(2);
  let dbLen = up(1);
  shapes.forEach(([rows, cols], z) => {
    // Flags cycle so that a case of four or more entries has every combination.
    const e: BiasActEntry = {
      rows, cols,
      relu: z % 2 === 0,
      dyOff: dyLen, dyRow: up(cols + rng.int(1, 3)),
      yOff: yLen, yRow: up(cols + rng.int(1, 3)),
      dbOff: z % 4 < 2 ? dbLen : undefined,
    };
    entries.push(e);
    dyLen = up(dyLen + rows * e.dyRow + rng.int(1, 4));
    yLen = up(yLen + rows * e.yRow + rng.int(1, 4));
    if (e.dbOff !== undefined) dbLen = up(dbLen + cols + rng.int(1, 3));
  });
  return { entries, dyLen: dyLen + 4, yLen: yLen + 4, dbLen: dbLen + 4 };
}

const cases: [string, [number, number][], boolean][] = [
  ['one entry, rows 1', [[1, 7]], false],
  ['four entries, rows 3/67/130/1', [[3, 65], [67, 1], [130, 33], [1, 130]], false],
  ['five entries, wide', [[67, 130], [1, 64], [130, 129], [3, 3], [5, 200]], false],
  ['four entries aligned to 4, rows 3/67/130/1 (4 columns per invocation)', [[3, 68], [67, 4], [130, 132], [1, 64]], true],
  ['one entry aligned to 4 but its width, rows 67', [[67, 66]], true],
];

describe('bias_act_backward', () => {
  for (const [label, shapes, align] of cases) {
    it(label, async () => {
      const ctx = await testContext();
      const seed = caseSeed(label);
      const rng = new Rng(seed);
      const c = randomCase(rng, shapes, align);
      // dY is updated in place: random inside the entries, NaN in the gaps (a stray read would reach db as NaN).
      const inDy = new Set<number>();
      for (const e of c.entries) for (let r = 0; r < e.rows; r++) for (let j = 0; j < e.cols; j++) inDy.add(e.dyOff + r * e.dyRow + j);
      const dy0 = Float32Array.from({ length: c.dyLen }, (_, i) => (inDy.has(i) ? rng.normal() : NaN));
      // Y has some exact zeros: ReLU's derivative there is 0.
      const y = Float32Array.from({ length: c.yLen }, () => (rng.uniform() < 0.1 ? 0 : rng.normal()));
      const db0 = new Float32Array(c.dbLen).fill(NaN);
      const bufs = { dY: upload(ctx, dy0), y: upload(ctx, y), db: upload(ctx, db0) };
      const dispatch = await biasActBackwardDispatch(ctx, 'test', c.entries, bufs);
      expect(dispatch.path).toBe(c.entries.every((e) => e.cols % 4 === 0) && align ? 'vec4' : 'scalar');
      await run(ctx, [dispatch]);
      const gotDy = await download(ctx, bufs.dY, c.dyLen);
      const gotDb = await download(ctx, bufs.db, c.dbLen);

      const wantDy = Float64Array.from(dy0);
      const wantDb = Float64Array.from(db0);
      biasActBackwardReference(c.entries, wantDy, y, wantDb);
      const inDb = new Set<number>();
      for (const e of c.entries) if (e.dbOff !== undefined) for (let j = 0; j < e.cols; j++) inDb.add(e.dbOff + j);
      checkWrites(`${label} dZ`, gotDy, inDy);
      checkWrites(`${label} db`, gotDb, inDb);
      const dyIdx = [...inDy];
      const dbIdx = [...inDb];
      expectClose(`${label} dZ`, seed, dyIdx.map((i) => gotDy[i]), dyIdx.map((i) => wantDy[i]), 1e-5);
      expectClose(`${label} db`, seed, dbIdx.map((i) => gotDb[i]), dbIdx.map((i) => wantDb[i]), 1e-5);
      // ReLU zeroes exactly; identity entries leave dY bit-identical.
      for (const e of c.entries) {
        for (let r = 0; r < e.rows; r++) {
          for (let j = 0; j < e.cols; j++) {
            const i = e.dyOff + r * e.dyRow + j;
            if (!e.relu || wantDy[i] === 0) expect(gotDy[i], `${label} dZ[${i}] (seed ${seed})`).toBe(wantDy[i]);
          }
        }
      }
      expect(dyIdx.length).toBeGreaterThan(0);
      expect(dbIdx.length).toBeGreaterThan(0);
    });
  }
});
