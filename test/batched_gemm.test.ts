/** shaders/batched_gemm.wgsl against src/reference/batched_gemm.ts on random shapes, strides and tilings. */
import { describe, expect, it } from 'vitest';
import { gemmDispatch, gemmTuningFor, type GemmEntry, type GemmTuning } from '../src/kernels/batched_gemm.js';
import { defaultGemmCandidates, tuningKey } from '../src/tuning.js';
import { gemmReference } from '../src/reference/batched_gemm.js';
import { Rng } from '../src/rng.js';
import { caseSeed, expectClose } from './helpers.js';
import { checkWrites, download, run, testContext, upload } from './gpu.js';

function randomCase(rng: Rng, entriesCount: number, maxDim: number) {
  const entries: GemmEntry[] = [];
  let aLen = 3;
  let bLen = 5;
  let cLen = 1;
  let biasLen = 2;
  const accumulateC = new Set<number>();
  for (let z = 0; z < entriesCount; z++) {
    const m = rng.int(1, maxDim);
    const n = rng.int(1, maxDim);
    const k = rng.int(1, maxDim);
    const aT = rng.uniform() < 0.5;
    const bT = rng.uniform() < 0.5;
    const cPad = rng.int(0, 3);
    const e: GemmEntry = {
      m, n, k,
      aOff: aLen, aRow: aT ? 1 : k, aCol: aT ? m : 1,
      bOff: bLen, bRow: bT ? 1 : n, bCol: bT ? k : 1,
      cOff: cLen, cRow: n + cPad,
      relu: rng.uniform() < 0.5,
      accumulate: rng.uniform() < 0.3,
      biasOff: rng.uniform() < 0.5 ? biasLen : undefined,
    };
    entries.push(e);
    if (e.accumulate) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) accumulateC.add(cLen + i * e.cRow + j);
    aLen += m * k + rng.int(0, 4);
    bLen += k * n + rng.int(0, 4);
    cLen += m * e.cRow + rng.int(0, 4);
    biasLen += n + 1;
  }
  return { entries, aLen, bLen, cLen: cLen + 2, biasLen, accumulateC };
}

const tunings: GemmTuning[] = [
  { tileM: 4, tileN: 4, wgX: 8, wgY: 8 },
  { tileM: 1, tileN: 1, wgX: 16, wgY: 4 },
  { tileM: 2, tileN: 3, wgX: 4, wgY: 16 },
  { tileM: 8, tileN: 8, wgX: 8, wgY: 8 },
  { tileM: 3, tileN: 8, vecN: 4, wgX: 4, wgY: 8 },
  { tileM: 2, tileN: 6, vecN: 2, wgX: 8, wgY: 4 },
  { tileM: 1, tileN: 1, wgX: 8, wgY: 8, workgroupMemory: true },
  { tileM: 1, tileN: 1, wgX: 16, wgY: 16, workgroupMemory: true },
];
// Every variant the tuner may pick is exact too.
for (const t of [gemmTuningFor({ isFallback: true, architecture: 'swiftshader' }), ...defaultGemmCandidates]) {
  if (!tunings.some((u) => tuningKey(u) === tuningKey(t))) tunings.push(t);
}

describe('batched_gemm', () => {
  const cases: [string, number, number][] = [
    ['one entry, 1x1x1 (batch 1)', 1, 1],
    ['three entries, sizes up to 37', 3, 37],
    ['five entries, sizes up to 70', 5, 70],
  ];
  for (const tuning of tunings) {
    for (const [label, count, maxDim] of cases) {
      it(`${label}, tile ${tuning.tileM}x${tuning.tileN} vec ${tuning.vecN ?? 1} wg ${tuning.wgX}x${tuning.wgY}${tuning.workgroupMemory ? ' workgroup memory' : ''}`, async () => {
        const ctx = await testContext();
        const seed = caseSeed(label + JSON.stringify(tuning));
        const rng = new Rng(seed);
        const c = randomCase(rng, count, maxDim);
        const a = Float32Array.from({ length: c.aLen }, () => rng.normal());
        const b = Float32Array.from({ length: c.bLen }, () => rng.normal());
        const bias = Float32Array.from({ length: c.biasLen }, () => rng.normal());
        // C starts NaN except where an entry accumulates into it.
        const c0 = Float32Array.from({ length: c.cLen }, (_, i) => (c.accumulateC.has(i) ? rng.normal() : NaN));
        const bufs = { a: upload(ctx, a), b: upload(ctx, b), c: upload(ctx, c0), bias: upload(ctx, bias) };
        await run(ctx, [await gemmDispatch(ctx, 'test', c.entries, bufs, tuning)]);
        const got = await download(ctx, bufs.c, c.cLen);
        const want = Float64Array.from(c0);
        gemmReference(c.entries, a, b, want, bias);
        const written = new Set<number>();
        for (const e of c.entries) for (let i = 0; i < e.m; i++) for (let j = 0; j < e.n; j++) written.add(e.cOff + i * e.cRow + j);
        checkWrites(label, got, written);
        const idx = [...written];
        expectClose(label, seed, idx.map((i) => got[i]), idx.map((i) => want[i]), 1e-5);
        expect(idx.length).toBeGreaterThan(0);
      });
    }
  }
});
