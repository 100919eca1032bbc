/**
 * shaders/mixture.wgsl, mixture_gate_grad.wgsl and mixture_expert_grad.wgsl against
 * src/reference/mixture.ts, on PLE-shaped gates: each task gate mixes its own experts then the
 * shared ones, and an optional shared gate mixes every expert.
 */
import { describe, expect, it } from 'vitest';
import {
  expertGradDispatch, expertGradRuns, gateGradDispatch, mixtureDispatch, mixtureMember,
  type ExpertGradEntry, type GateGradEntry, type MixtureEntry,
} from '../src/kernels/mixture.js';
import { expertGradReference, gateGradReference, mixtureReference } from '../src/reference/mixture.js';
import type { GpuContext } from '../src/gpu/context.js';
import { Rng } from '../src/rng.js';
import { caseSeed, expectClose } from './helpers.js';
import { checkWrites, contextFor, download, reductionPaths, run, testContext, upload } from './gpu.js';

interface Shape {
  rows: number;
  d: number;
  /** Task experts of each task gate (0 = the gate mixes only shared experts). */
  own: number[];
  shared: number;
  sharedGate: boolean;
}

/**
 * Inputs are random inside their blocks and NaN in every gap (a stray read shows as NaN);
 * outputs are all NaN. Gate weights sit side by side in one [rows x wRow] matrix with gaps
 * between gates, as do the gates' dG; expert outputs and their gradients side by side in
 * [rows x (experts*d + pad)] matrices.
 */
function randomCase(rng: Rng, s: Shape) {
  const { rows, d } = s;
  const taskExperts = s.own.reduce((a, b) => a + b, 0);
  const experts = taskExperts + s.shared;
  const gates: { ownStart: number; ownCount: number; n: number }[] = [];
  s.own.forEach((ownCount, t) => gates.push({ ownStart: s.own.slice(0, t).reduce((a, b) => a + b, 0), ownCount, n: ownCount + s.shared }));
  if (s.sharedGate) gates.push({ ownStart: 0, ownCount: taskExperts, n: experts });

  // Column of each gate in the gate-weight and dG matrices, with 0-2 unused columns before each.
  const columns = (width: (n: number) => number) => {
    let at = 0;
    const cols = gates.map((g) => ((at += rng.int(0, 2) + width(g.n)), at - width(g.n)));
    return { cols, row: at + rng.int(1, 3) };
  };
  const wc = columns((n) => n);
  const gc = columns(() => d);
  const w0 = rng.int(1, 5);
  const g0 = rng.int(1, 5);
  const z0 = rng.int(1, 5);
  const zRow = experts * d + rng.int(1, 3);

  const gateW = new Float32Array(w0 + rows * wc.row + 2).fill(NaN);
  for (let r = 0; r < rows; r++) {
    gates.forEach((g, i) => {
      const logits = Array.from({ length: g.n }, () => rng.normal() * 2);
      const exps = logits.map((l) => Math.exp(l));
      const sum = exps.reduce((a, b) => a + b, 0);
      exps.forEach((v, j) => (gateW[w0 + r * wc.row + wc.cols[i] + j] = v / sum));
    });
  }
  const z = new Float32Array(z0 + rows * zRow + 3).fill(NaN);
  for (let r = 0; r < rows; r++) for (let o = 0; o < experts * d; o++) z[z0 + r * zRow + o] = rng.normal();
  const dG = new Float32Array(g0 + rows * gc.row + 1).fill(NaN);
  for (let r = 0; r < rows; r++) gates.forEach((_, i) => { for (let o = 0; o < d; o++) dG[g0 + r * gc.row + gc.cols[i] + o] = rng.normal(); });

  const forward: MixtureEntry[] = [];
  const backward: GateGradEntry[] = [];
  let outLen = 2;
  let dlLen = 1;
  gates.forEach((g, i) => {
    const base = { rows, d, n: g.n, ownStart: g.ownStart, ownCount: g.ownCount, sharedStart: taskExperts, wOff: w0 + wc.cols[i], wRow: wc.row, zOff: z0, zRow };
    const outRow = d + rng.int(1, 3);
    const dlRow = g.n + rng.int(1, 3);
    forward.push({ ...base, outOff: outLen, outRow });
    backward.push({ ...base, dgOff: g0 + gc.cols[i], dgRow: gc.row, dlOff: dlLen, dlRow });
    outLen += rows * outRow + rng.int(1, 4);
    dlLen += rows * dlRow + rng.int(1, 4);
  });
  // Each expert's gradient gathers (gate-weight column, dG block) from every gate that mixes it.
  const dz0 = rng.int(1, 5);
  const dzRow = experts * d + rng.int(1, 3);
  const expertGrads: ExpertGradEntry[] = [];
  for (let e = 0; e < experts; e++) {
    const members: ExpertGradEntry['members'] = [];
    forward.forEach((f, i) => {
      for (let j = 0; j < f.n; j++) if (mixtureMember(f, j) === e) members.push({ wCol: wc.cols[i] + j, dgOff: g0 + gc.cols[i] });
    });
    expertGrads.push({ rows, d, members, wOff: w0, wRow: wc.row, dgRow: gc.row, dzOff: dz0 + e * d, dzRow });
  }
  return { forward, backward, expertGrads, gateW, z, dG, outLen, dlLen, dzLen: dz0 + rows * dzRow + 2 };
}

type Arrays = Record<'gateW' | 'z' | 'dG' | 'out' | 'dLogit' | 'dZ', Float32Array>;
type Case = ReturnType<typeof randomCase>;

/**
 * Uploads the arrays as buffers of their own, or (arena) as regions of ONE buffer that is passed
 * whole for every binding, the way the runtime keeps all activations in one arena: the entries'
 * offsets are then shifted to their region, and the dispatchers must narrow each binding to
 * disjoint ranges (WebGPU forbids overlapping writable bindings of one buffer).
 */
function place(ctx: GpuContext, arrays: Arrays, c: Case, arena: boolean) {
  const names = Object.keys(arrays) as (keyof Arrays)[];
  if (!arena) {
    const bufs = Object.fromEntries(names.map((k) => [k, upload(ctx, arrays[k])])) as Record<keyof Arrays, GPUBuffer>;
    return { bufs, c, read: (k: keyof Arrays) => download(ctx, bufs[k], arrays[k].length) };
  }
  // Regions start at the storage offset alignment; some have a whole aligned slot of gap after them.
  const align = ctx.limits.minStorageBufferOffsetAlignment / 4;
  const at = {} as Record<keyof Arrays, number>;
  let len = 0;
  for (const k of names) {
    at[k] = len;
    len = Math.ceil((len + arrays[k].length) / align + (k.length % 2)) * align;
  }
  const all = new Float32Array(len).fill(NaN);
  for (const k of names) all.set(arrays[k], at[k]);
  const buffer = upload(ctx, all, 'arena');
  const shifted: Case = {
    ...c,
    forward: c.forward.map((e) => ({ ...e, wOff: e.wOff + at.gateW, zOff: e.zOff + at.z, outOff: e.outOff + at.out })),
    backward: c.backward.map((e) => ({ ...e, wOff: e.wOff + at.gateW, zOff: e.zOff + at.z, dgOff: e.dgOff + at.dG, dlOff: e.dlOff + at.dLogit })),
    expertGrads: c.expertGrads.map((e) => ({
      ...e, wOff: e.wOff + at.gateW, dzOff: e.dzOff + at.dZ, members: e.members.map((m) => ({ ...m, dgOff: m.dgOff + at.dG })),
    })),
  };
  const bufs = Object.fromEntries(names.map((k) => [k, buffer])) as Record<keyof Arrays, GPUBuffer>;
  return { bufs, c: shifted, read: async (k: keyof Arrays) => (await download(ctx, buffer, len)).slice(at[k], at[k] + arrays[k].length) };
}

function blockIndices(off: number, row: number, rows: number, width: number, into = new Set<number>()): Set<number> {
  for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) into.add(off + r * row + j);
  return into;
}

function compare(label: string, seed: number, got: Float32Array, want: Float64Array, written: Set<number>): void {
  checkWrites(label, got, written);
  const idx = [...written];
  expect(idx.length).toBeGreaterThan(0);
  expectClose(label, seed, idx.map((i) => got[i]), idx.map((i) => want[i]), 1e-5);
}

/**
 * The gate gradient w_j (v_j - sum_k w_k v_k) cancels: with few rows and experts its f32 result can
 * be off by more than 1e-5 of its own size while every term is exact to f32 rounding. Its error is
 * therefore measured against the same formula evaluated on magnitudes, |w_j| (|v|_j + sum_k |w_k| |v|_k)
 * with |v|_j = sum_o |dG_o z_jo| (the usual forward-error bound of a sum), not against the result.
 */
function compareGateGrad(label: string, seed: number, got: Float32Array, want: Float64Array, c: Case): void {
  const scale = new Float64Array(want.length);
  gateGradReference(c.backward, c.gateW.map(Math.abs), c.z.map(Math.abs), c.dG.map(Math.abs), scale, true);
  const written = new Set<number>();
  for (const e of c.backward) blockIndices(e.dlOff, e.dlRow, e.rows, e.n, written);
  checkWrites(label, got, written);
  const idx = [...written];
  expect(idx.length).toBeGreaterThan(0);
  let num = 0;
  let den = 0;
  for (const i of idx) {
    num += (got[i] - want[i]) ** 2;
    den += scale[i] ** 2;
  }
  const err = Math.sqrt(num / den);
  if (!(err <= 1e-5)) throw new Error(`${label}: error ${err.toExponential(3)} of the magnitude bound > 1e-5 (seed ${seed}; rerun with PLE_TEST_SEED=${seed})`);
}

const cases: [string, Shape][] = [
  ['one gate, rows 1', { rows: 1, d: 3, own: [2], shared: 1, sharedGate: false }],
  ['CGC, rows 3, d 65', { rows: 3, d: 65, own: [2, 1], shared: 2, sharedGate: true }],
  ['rows 67, a gate with shared experts only', { rows: 67, d: 5, own: [1, 3, 0], shared: 1, sharedGate: true }],
  ['rows 130, no shared experts (a one-expert gate)', { rows: 130, d: 16, own: [1, 2], shared: 0, sharedGate: false }],
];

describe('mixture', () => {
  // Outputs per invocation of the forward mixture and the expert gradient: the GPU default and the
  // software adapters' (src/kernels/shapes.ts); experts per expert-gradient descriptor: the GPU default,
  // the software adapters', and 3, which splits groups of 2 and 3 unevenly.
  const tilings = [[4, 1], [16, 2], [4, 3]] as const;
  for (const path of reductionPaths) for (const [label, shape] of cases) for (const [outputs, experts] of tilings) {
    for (const arena of [false, true]) {
      const name = `${path}: ${label}, ${outputs} outputs per invocation, up to ${experts} experts per descriptor${arena ? ', all arrays in one buffer' : ''}`;
      it(name, async () => {
        const ctx = await contextFor(path);
        const seed = caseSeed(name);
        const c = randomCase(new Rng(seed), shape);
        const poison = (n: number) => new Float32Array(n).fill(NaN);
        const arrays: Arrays = { gateW: c.gateW, z: c.z, dG: c.dG, out: poison(c.outLen), dLogit: poison(c.dlLen), dZ: poison(c.dzLen) };
        const placed = place(ctx, arrays, c, arena);
        const { bufs, read } = placed;
        await run(ctx, [
          await mixtureDispatch(ctx, 'test', placed.c.forward, bufs, { outputsPerInvocation: outputs }),
          await gateGradDispatch(ctx, 'test', placed.c.backward, bufs, path),
          await expertGradDispatch(ctx, 'test', placed.c.expertGrads, bufs, { outputsPerInvocation: outputs, expertsPerDescriptor: experts }),
        ]);

        const wantOut = new Float64Array(c.outLen);
        mixtureReference(c.forward, c.gateW, c.z, wantOut);
        const outSet = new Set<number>();
        for (const e of c.forward) blockIndices(e.outOff, e.outRow, e.rows, e.d, outSet);
        compare(`${name}: mixture`, seed, await read('out'), wantOut, outSet);

        const wantDl = new Float64Array(c.dlLen);
        gateGradReference(c.backward, c.gateW, c.z, c.dG, wantDl);
        compareGateGrad(`${name}: mixture_gate_grad`, seed, await read('dLogit'), wantDl, c);

        const wantDz = new Float64Array(c.dzLen);
        expertGradReference(c.expertGrads, c.gateW, c.dG, wantDz);
        const dzSet = new Set<number>();
        for (const e of c.expertGrads) blockIndices(e.dzOff, e.dzRow, e.rows, e.d, dzSet);
        compare(`${name}: mixture_expert_grad`, seed, await read('dZ'), wantDz, dzSet);
        // Inputs are untouched.
        for (const k of ['gateW', 'z', 'dG'] as const) expect(Array.from(await read(k))).toEqual(Array.from(arrays[k]));
      });
    }
  }

  it('puts the experts that the same gates mix into one expert-gradient descriptor', () => {
    // CGC: task 0's experts 0 and 1 (its gate and the shared gate), task 1's expert 2, shared
    // experts 3 and 4 (every gate).
    const c = randomCase(new Rng(1), cases[1][1]);
    const runs = (most: number) => expertGradRuns(c.expertGrads, most).map((r) => r.experts);
    expect(runs(1)).toEqual([1, 1, 1, 1, 1]);
    expect(runs(2)).toEqual([2, 1, 2]);
    expect(runs(4)).toEqual([2, 1, 2]);
    // Blocks closer than d apart would overlap: expert 0 stays alone.
    const closer = c.expertGrads.map((e, i) => (i === 1 ? { ...e, dzOff: e.dzOff - 1 } : e));
    expect(expertGradRuns(closer, 2).map((r) => r.experts)).toEqual([1, 1, 1, 2]);
  });

  it('refuses entries whose ranges overlap in one buffer', async () => {
    const ctx = await testContext();
    const c = randomCase(new Rng(caseSeed('overlap')), cases[1][1]);
    const buffer = upload(ctx, new Float32Array(c.gateW.length + c.z.length + c.outLen));
    const dispatch = async () => mixtureDispatch(ctx, 'overlap', c.forward, { gateW: buffer, z: buffer, out: buffer });
    await expect(dispatch()).rejects.toThrow(/overlap/);
  });
});
