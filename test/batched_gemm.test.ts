/**
 * shaders/batched_gemm.wgsl and shaders/batched_gemm_subgroup.wgsl against src/reference/batched_gemm.ts
 * on random shapes, strides and tilings.
 */
import { describe, expect, it } from 'vitest';
import { gemmDispatch, gemmTuningFor, type GemmEntry, type GemmTuning } from '../src/kernels/batched_gemm.js';
import type { GpuContext } from '../src/gpu/context.js';
import { defaultGemmCandidates, tuningFits, tuningKey } from '../src/tuning.js';
import { gemmReference } from '../src/reference/batched_gemm.js';
import { Rng } from '../src/rng.js';
import { caseSeed, expectClose } from './helpers.js';
import { checkWrites, download, noSubgroupsContext, run, testContext, upload } from './gpu.js';

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
  // Subgroup variants: odd tiles, two subgroups per workgroup, vectors.
  { tileM: 3, tileN: 5, wgX: 8, wgY: 1, subgroupSize: 4 },
  { tileM: 2, tileN: 4, vecN: 2, wgX: 4, wgY: 1, subgroupSize: 4 },
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
  for (const listed of tunings) {
    for (const [label, count, maxDim] of cases) {
      let tuning = listed;
      it(`${label}, tile ${tuning.tileM}x${tuning.tileN} vec ${tuning.vecN ?? 1} wg ${tuning.wgX}x${tuning.wgY}${tuning.workgroupMemory ? ' workgroup memory' : ''}${tuning.subgroupSize ? ' subgroup' : ''}`, async () => {
        const ctx = await testContext();
        const seed = caseSeed(label + JSON.stringify(tuning));
        tuning = forAdapterSubgroups(ctx, tuning);
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

  it('the subgroup variant is refused, by name of the feature, on a device without subgroups, and the tuner skips it there', async () => {
    const ctx = await noSubgroupsContext();
    expect(ctx.subgroups).toBeNull();
    const t: GemmTuning = { tileM: 8, tileN: 8, wgX: 4, wgY: 1, subgroupSize: 4 };
    const entries: GemmEntry[] = [{ m: 2, n: 2, k: 2, aOff: 0, aRow: 2, aCol: 1, bOff: 0, bRow: 2, bCol: 1, cOff: 0, cRow: 2 }];
    const bufs = { a: upload(ctx, [1, 2, 3, 4]), b: upload(ctx, [1, 2, 3, 4]), c: upload(ctx, [0, 0, 0, 0]) };
    expect(() => gemmDispatch(ctx, 'test', entries, bufs, t)).toThrow(/'subgroups' feature/);
    const shape = { name: 'g', layout: 'forward' as const, entries: [{ m: 2, n: 2, k: 2 }] };
    expect(tuningFits(ctx, t, [shape])).toBe(false);
    expect(tuningFits(await testContext(), forAdapterSubgroups(await testContext(), t), [shape])).toBe(true);
  });

  it('the subgroup variant takes one row of invocations, whole subgroups and the device subgroup size', async () => {
    const ctx = await testContext();
    const size = forAdapterSubgroups(ctx, { tileM: 1, tileN: 1, wgX: 1, wgY: 1, subgroupSize: 1 }).subgroupSize!;
    const entries: GemmEntry[] = [{ m: 1, n: 1, k: 1, aOff: 0, aRow: 1, aCol: 1, bOff: 0, bRow: 1, bCol: 1, cOff: 0, cRow: 1 }];
    const bufs = { a: upload(ctx, [1]), b: upload(ctx, [1]), c: upload(ctx, [0]) };
    const dispatch = (t: GemmTuning) => gemmDispatch(ctx, 'test', entries, bufs, t);
    expect(() => dispatch({ tileM: 2, tileN: 2, wgX: size, wgY: 2, subgroupSize: size })).toThrow(/wgY = 1/);
    expect(() => dispatch({ tileM: 2, tileN: 2, wgX: size + 1, wgY: 1, subgroupSize: size })).toThrow(/multiple of the subgroup size/);
    expect(() => dispatch({ tileM: 2, tileN: 2, wgX: 2 * size, wgY: 1, subgroupSize: 2 * size })).toThrow(/specialised for subgroups of/);
  });
});

/**
 * A subgroup tuning at the test adapter's subgroup size (the listed ones assume SwiftShader's 4), so
 * that the variant is checked on any adapter; an adapter without one fixed size fails, saying so.
 */
function forAdapterSubgroups(ctx: GpuContext, t: GemmTuning): GemmTuning {
  if (t.subgroupSize === undefined) return t;
  const sg = ctx.subgroups;
  if (!sg || sg.minSize !== sg.maxSize) {
    throw new Error(`the test adapter has no fixed subgroup size (${sg ? `${sg.minSize} to ${sg.maxSize}` : "no 'subgroups' feature"}), so the subgroup GEMM cannot be tested here`);
  }
  const size = sg.minSize;
  return { ...t, subgroupSize: size, wgX: Math.ceil(t.wgX / size) * size };
}
