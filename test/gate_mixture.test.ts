/**
 * shaders/gate_mixture.wgsl (the gate softmax and the mixture in one dispatch) against
 * src/reference/gate_softmax.ts followed by src/reference/mixture.ts, on PLE-shaped gates at odd
 * sizes, on both reduction paths. The gate weights, gate inputs, expert outputs and mixtures share
 * one activation buffer, as in a plan; every gap is NaN and every output starts NaN.
 */
import { describe, expect, it } from 'vitest';
import { gateMixtureDispatch, type GateMixtureEntry } from '../src/kernels/gate_mixture.js';
import { gateSoftmaxReference } from '../src/reference/gate_softmax.js';
import { mixtureReference } from '../src/reference/mixture.js';
import { Rng } from '../src/rng.js';
import { caseSeed, expectClose } from './helpers.js';
import { checkWrites, contextFor, download, reductionPaths, run, upload } from './gpu.js';

interface Shape {
  rows: number;
  /** Input width of the gates, expert output width. */
  k: number;
  d: number;
  /** Task experts of each task gate; a shared gate mixes every expert. */
  own: number[];
  shared: number;
  sharedGate: boolean;
  bias: boolean;
}

/** `align`: the device's storage offset alignment in elements; each region of the arena starts on it, as a plan's views do. */
function randomCase(rng: Rng, s: Shape, align: number) {
  const taskExperts = s.own.reduce((a, b) => a + b, 0);
  const experts = taskExperts + s.shared;
  const gates = s.own.map((ownCount, t) => ({ ownStart: s.own.slice(0, t).reduce((a, b) => a + b, 0), ownCount, n: ownCount + s.shared }));
  if (s.sharedGate) gates.push({ ownStart: 0, ownCount: taskExperts, n: experts });
  // Activation arena: X [rows x xRow] | gate weights [rows x cols] | Z [rows x zRow] | mixtures, gaps between.
  let at = 0;
  const region = (len: number) => {
    const start = Math.ceil((at + rng.int(1, 4)) / align) * align;
    at = start + len;
    return start;
  };
  const xRow = s.k + rng.int(0, 2);
  const xOff = region(s.rows * xRow);
  const colOf: number[] = [];
  let cols = 0;
  for (const g of gates) {
    cols += rng.int(0, 1);
    colOf.push(cols);
    cols += g.n;
  }
  cols += rng.int(0, 2);
  const gOff = region(s.rows * cols);
  const zRow = experts * s.d + rng.int(0, 2);
  const zOff = region(s.rows * zRow);
  const outRow = s.d + rng.int(0, 2);
  const outOffs = gates.map(() => region(s.rows * outRow));
  const act = new Float32Array(at + 2).fill(NaN);
  for (let r = 0; r < s.rows; r++) for (let a = 0; a < s.k; a++) act[xOff + r * xRow + a] = rng.normal();
  for (let r = 0; r < s.rows; r++) for (let o = 0; o < experts * s.d; o++) act[zOff + r * zRow + o] = rng.normal();
  const w: number[] = [NaN];
  const entries: GateMixtureEntry[] = gates.map((g, i) => {
    const wOff = w.length;
    for (let q = 0; q < s.k * g.n; q++) w.push(rng.normal() / Math.sqrt(s.k));
    w.push(NaN);
    const bOff = s.bias ? w.length : undefined;
    if (s.bias) for (let j = 0; j < g.n; j++) w.push(rng.normal());
    w.push(NaN);
    return {
      gate: { rows: s.rows, n: g.n, k: s.k, xOff, xRow, wOff, bOff, outOff: gOff + colOf[i], outRow: cols },
      mixture: { rows: s.rows, d: s.d, ...g, sharedStart: taskExperts, wOff: gOff + colOf[i], wRow: cols, zOff, zRow, outOff: outOffs[i], outRow },
    };
  });
  return { entries, act, w: Float32Array.from(w) };
}

const cases: [string, Shape][] = [
  ['rows 1, one gate', { rows: 1, k: 3, d: 5, own: [2], shared: 1, sharedGate: false, bias: true }],
  ['PLE, rows 67, d 65, a shared gate of 6', { rows: 67, k: 13, d: 65, own: [2, 2], shared: 2, sharedGate: true, bias: true }],
  ['rows 130, no bias, a gate over shared experts only', { rows: 130, k: 7, d: 9, own: [1, 0, 3], shared: 1, sharedGate: true, bias: false }],
];

describe('gate_mixture', () => {
  // Outputs per invocation: the GPU default and the software adapters' (src/kernels/shapes.ts).
  for (const path of reductionPaths) for (const [caseLabel, shape] of cases) for (const [outputs, rowsPerGroup] of [[4, 1], [16, 4]]) {
    const label = `${path}: ${caseLabel}, ${outputs} outputs per invocation, ${rowsPerGroup} samples per lane group`;
    it(label, async () => {
      const ctx = await contextFor(path);
      const seed = caseSeed(label);
      const c = randomCase(new Rng(seed), shape, ctx.limits.minStorageBufferOffsetAlignment / 4);
      const act = upload(ctx, c.act);
      const bufs = { x: act, w: upload(ctx, c.w), gateW: act, z: act, out: act };
      await run(ctx, [await gateMixtureDispatch(ctx, 'test', c.entries, bufs, path, { outputsPerInvocation: outputs, rowsPerGroup })]);
      const got = await download(ctx, act, c.act.length);

      const want = Float64Array.from(c.act);
      gateSoftmaxReference(c.entries.map((e) => e.gate), c.act, c.w, want);
      mixtureReference(c.entries.map((e) => e.mixture), want, c.act, want);
      const weights = new Set<number>();
      const mixtures = new Set<number>();
      for (const { gate: g, mixture: m } of c.entries) {
        for (let r = 0; r < g.rows; r++) for (let j = 0; j < g.n; j++) weights.add(g.outOff + r * g.outRow + j);
        for (let r = 0; r < m.rows; r++) for (let o = 0; o < m.d; o++) mixtures.add(m.outOff + r * m.outRow + o);
      }
      // Inputs are unchanged, outputs written, gaps still NaN.
      const inputs = new Set<number>();
      c.act.forEach((v, i) => Number.isFinite(v) && inputs.add(i));
      checkWrites(label, got, new Set([...inputs, ...weights, ...mixtures]));
      for (const i of inputs) expect(got[i]).toBe(c.act[i]);
      for (const [name, idx] of [['gate weights', [...weights]], ['mixtures', [...mixtures]]] as const) {
        expectClose(`${label}: ${name}`, seed, idx.map((i) => got[i]), idx.map((i) => want[i]), 1e-5);
      }
    });
  }

  it('refuses a mixture that does not read its gate\'s weights', async () => {
    const ctx = await contextFor('plain');
    const c = randomCase(new Rng(1), cases[0][1], ctx.limits.minStorageBufferOffsetAlignment / 4);
    const act = upload(ctx, c.act);
    const bad = c.entries.map((e) => ({ ...e, mixture: { ...e.mixture, wOff: e.mixture.wOff + 1 } }));
    const dispatch = async () => gateMixtureDispatch(ctx, 'bad', bad, { x: act, w: upload(ctx, c.w), gateW: act, z: act, out: act });
    await expect(dispatch()).rejects.toThrow(/does not read its gate's weights/);
  });
});
