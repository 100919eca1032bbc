/**
 * src/cpu/elementwise.ts (the CPU device's WASM SIMD element-wise kernels) against the float64
 * references: bias_act_backward (src/reference/bias_act_backward.ts), mixture, mixture_gate_grad and
 * mixture_expert_grad (src/reference/mixture.ts), the optimizers (src/reference/optimizer.ts), the
 * gates' softmax (src/reference/gate_softmax.ts), the task losses (src/reference/task_loss.ts) and
 * grad_norm (src/reference/grad_norm.ts, through src/cpu/kernels.ts's op).
 * Widths are odd and even (1 to 65: the 16-, 4- and 1-float paths and their tails), row counts
 * odd, every operand at an unaligned heap offset with gaps of NaN, several entries per call; the
 * mixture and the gate gradient run in row blocks of random sizes, and as ops through runCpuOp
 * (src/cpu/kernels.ts's blocks) on more rows than one block. Every heap element an entry does not
 * own as output must be left bit for bit as it was. Each op that splits over a thread pool runs on
 * 1, 2 and 3 threads with the split forced (minFlopsPerThread 0), bit for bit as on 1 thread.
 */
import { describe, expect, it } from 'vitest';
import type { ResolvedOptimizer } from '../src/config.js';
import { CpuElementwise, elementwiseModule, sumSquaresFloats, taskLossFloats } from '../src/cpu/elementwise.js';
import { CpuGemm } from '../src/cpu/gemm.js';
import { CpuHeap } from '../src/cpu/heap.js';
import { CpuThreadPool } from '../src/cpu/pool.js';
import { runCpuOp, type CpuOpContext } from '../src/cpu/kernels.js';
import type { BufferRole } from '../src/layers/ops.js';
import type { BiasActEntry } from '../src/kernels/bias_act_backward.js';
import type { GateEntry } from '../src/kernels/gate_softmax.js';
import type { TaskLossEntry } from '../src/kernels/task_loss.js';
import type { TaskType } from '../src/config.js';
import type { ExpertGradEntry, GateGradEntry, MixtureEntry } from '../src/kernels/mixture.js';
import { biasActBackwardReference } from '../src/reference/bias_act_backward.js';
import { gateSoftmaxReference } from '../src/reference/gate_softmax.js';
import { gradNormReference } from '../src/reference/grad_norm.js';
import { expertGradReference, gateGradReference, mixtureReference } from '../src/reference/mixture.js';
import { optimizerReference } from '../src/reference/optimizer.js';
import { taskLossReference } from '../src/reference/task_loss.js';
import { Rng } from '../src/rng.js';
import { caseSeed, expectClose, withSeed } from './helpers.js';

const WIDTHS = [1, 3, 5, 7, 9, 13, 64, 65];
const ROWS = [1, 3, 7, 33];

/** A NaN-filled heap handing out regions at unaligned offsets with NaN gaps between them. */
class Layout {
  readonly heap: CpuHeap;
  private next: number;
  /** Elements the kernels may write. */
  readonly outputs = new Set<number>();
  constructor(private readonly rng: Rng, { shared = false } = {}) {
    this.heap = new CpuHeap(1 << 20, { shared });
    this.heap.f32.fill(NaN);
    this.next = rng.int(1, 3);
  }
  /** `size` floats at a multiple of `align` floats; returns the offset. */
  region(size: number, align = 1): number {
    const at = Math.ceil(this.next / align) * align;
    this.next = at + size + this.rng.int(1, 3);
    if (this.next > this.heap.f32.length) throw new Error('test heap too small');
    return at;
  }
  /** Random values at rows x cols elements of a strided matrix. */
  fill(at: number, rows: number, cols: number, stride: number, value: () => number = () => this.rng.normal()): void {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) this.heap.f32[at + r * stride + c] = value();
  }
  markOutput(at: number, rows: number, cols: number, stride: number): void {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) this.outputs.add(at + r * stride + c);
  }
  /** Values at rows x cols elements of a strided matrix, in order. */
  read(f: ArrayLike<number>, at: number, rows: number, cols: number, stride: number): number[] {
    const out: number[] = [];
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out.push(f[at + r * stride + c]);
    return out;
  }
  /** Throws unless every non-output element kept its bits. */
  checkUntouched(before: Uint32Array): void {
    const now = this.heap.u32;
    for (let i = 0; i < this.next + 8; i++) {
      if (!this.outputs.has(i) && now[i] !== before[i]) throw new Error(`heap element ${i} (not an output) changed`);
    }
  }
}

const setup = async (seed: number) => {
  const rng = new Rng(seed);
  const layout = new Layout(rng);
  return { rng, layout, ew: await CpuElementwise.create(layout.heap) };
};

describe('CPU bias_act_backward (WASM SIMD) against the float64 reference', () => {
  for (const cols of WIDTHS) {
    it(`cols ${cols}`, async () => {
      const seed = caseSeed(`cpu bias_act cols ${cols}`);
      await withSeed(seed, async () => {
        const { rng, layout, ew } = await setup(seed);
        // Buffer bases, then entries at offsets inside them: relu with and without db, linear with db.
        const dY = layout.region(0);
        const y = layout.region(0);
        const db = layout.region(0);
        const entries: BiasActEntry[] = [];
        for (const [relu, withDb] of [[true, true], [true, false], [false, true], [true, true]] as const) {
          const rows = ROWS[rng.int(0, ROWS.length - 1)];
          const dyRow = cols + rng.int(0, 3);
          const yRow = cols + rng.int(0, 3);
          const e: BiasActEntry = {
            rows, cols, relu,
            dyOff: layout.region(rows * dyRow) - dY, dyRow,
            yOff: layout.region(rows * yRow) - y, yRow,
            dbOff: withDb ? layout.region(cols) - db : undefined,
          };
          layout.fill(dY + e.dyOff, rows, cols, dyRow);
          // Y: positive, negative, exact +0 and -0, and NaN (masked: !(NaN > 0)).
          const ys = [() => rng.range(0.01, 2), () => -rng.range(0.01, 2), () => 0, () => -0, () => NaN, () => 1e-30];
          layout.fill(y + e.yOff, rows, cols, yRow, () => ys[rng.int(0, ys.length - 1)]());
          if (relu) layout.markOutput(dY + e.dyOff, rows, cols, dyRow);
          if (withDb) layout.markOutput(db + e.dbOff!, 1, cols, cols);
          entries.push(e);
        }
        const f = layout.heap.f32;
        const before = layout.heap.u32.slice();
        const want = Float64Array.from(f);
        const shifted = entries.map((e) => ({ ...e, dyOff: dY + e.dyOff, yOff: y + e.yOff, dbOff: e.dbOff === undefined ? undefined : db + e.dbOff }));
        biasActBackwardReference(shifted, want, want, want);
        ew.biasActBackward(entries, dY, y, db)();
        layout.checkUntouched(before);
        for (const e of shifted) {
          // The mask is exact: each dY keeps its value or becomes +0.
          const got = layout.read(f, e.dyOff, e.rows, cols, e.dyRow);
          expect(got.map((v) => (Object.is(v, -0) ? 'neg0' : v))).toEqual(layout.read(Float32Array.from(want), e.dyOff, e.rows, cols, e.dyRow));
          if (e.dbOff !== undefined) expectClose(`db rows ${e.rows}`, seed, layout.read(f, e.dbOff, 1, cols, cols), layout.read(want, e.dbOff, 1, cols, cols), 1e-5);
        }
      });
    });
  }
});

/** Experts side by side in z ([rows x zRow]); gates each mixing runs of their own and the shared experts; per gate its weights, dG, output and dLogit. */
function mixtureCase(rng: Rng, layout: Layout, rows: number, d: number) {
  const own = [rng.int(0, 2), rng.int(1, 2), rng.int(0, 3)];
  const shared = rng.int(1, 3);
  const taskExperts = own.reduce((a, b) => a + b, 0);
  // One more expert that no gate mixes (its gradient is zero).
  const experts = taskExperts + shared + 1;
  const sharedStart = taskExperts;
  const gates = own.map((ownCount, t) => ({ ownStart: own.slice(0, t).reduce((a, b) => a + b, 0), ownCount, n: ownCount + shared }));
  gates.push({ ownStart: 0, ownCount: taskExperts, n: taskExperts + shared });
  const zRow = experts * d + rng.int(0, 3);
  const z = layout.region(rows * zRow);
  layout.fill(z, rows, experts * d, zRow);
  let col = 0;
  const columns = gates.map((g) => ((col += rng.int(0, 2) + g.n), col - g.n));
  const wRow = col + rng.int(0, 2);
  const gateW = layout.region(rows * wRow);
  gates.forEach((g, i) => layout.fill(gateW + columns[i], rows, g.n, wRow));
  const dgRow = d + rng.int(0, 3);
  const dG = layout.region(0);
  const dgOffs = gates.map(() => layout.region(rows * dgRow) - dG);
  dgOffs.forEach((o) => layout.fill(dG + o, rows, d, dgRow));
  const out = layout.region(0);
  const dLogit = layout.region(0);
  const mixtures: MixtureEntry[] = gates.map((g, i) => ({
    rows, d, n: g.n, ownStart: g.ownStart, ownCount: g.ownCount, sharedStart,
    wOff: columns[i], wRow, zOff: 0, zRow, outOff: 0, outRow: 0,
  }));
  const gateGrads: GateGradEntry[] = mixtures.map((m, i) => {
    const dlRow = m.n + rng.int(0, 2);
    return { ...m, dgOff: dgOffs[i], dgRow, dlOff: layout.region(rows * dlRow) - dLogit, dlRow };
  });
  for (const m of mixtures) {
    m.outRow = d + rng.int(0, 3);
    m.outOff = layout.region(rows * m.outRow) - out;
  }
  const dzRow = experts * d + rng.int(0, 3);
  const dZ = layout.region(rows * dzRow);
  const expertGrads: ExpertGradEntry[] = Array.from({ length: experts }, (_, e) => ({
    rows, d, wOff: 0, wRow, dgRow, dzOff: e * d, dzRow,
    members: gates.flatMap((g, gi) => Array.from({ length: g.n }, (_, p) => p).flatMap((p) => {
      const member = p < g.ownCount ? g.ownStart + p : sharedStart + p - g.ownCount;
      return member === e ? [{ wCol: columns[gi] + p, dgOff: dgOffs[gi] }] : [];
    })),
  }));
  expect(expertGrads[experts - 1].members).toEqual([]);
  return { z, gateW, dG, out, dLogit, dZ, mixtures, gateGrads, expertGrads };
}

/**
 * The gate gradient subtracts: each element of the entry's dLogit (heap offsets) within f32 rounding
 * of its magnitude scale (the reference summing instead of subtracting, on absolute values).
 */
function expectGateGradClose(layout: Layout, want: Float64Array, magnitudes: Float64Array, g: GateGradEntry, seed: number): void {
  const got = layout.read(layout.heap.f32, g.dlOff, g.rows, g.n, g.dlRow);
  const ref = layout.read(want, g.dlOff, g.rows, g.n, g.dlRow);
  const scale = layout.read(magnitudes, g.dlOff, g.rows, g.n, g.dlRow);
  got.forEach((v, i) => {
    if (!(Math.abs(v - ref[i]) <= 1e-5 * scale[i] + 1e-30)) throw new Error(`gate grad rows ${g.rows}, element ${i}: ${v} vs ${ref[i]} (scale ${scale[i]}; seed ${seed})`);
  });
}

/** A mixtureCase's mixture, gate gradient and expert gradient outputs (each entry on its own rows) against the float64 reference on the heap's input. */
function expectMixtureCase(layout: Layout, c: ReturnType<typeof mixtureCase>, input: Float64Array, seed: number): void {
  const f = layout.heap.f32;
  const want = Float64Array.from(input);
  const magnitudes = new Float64Array(input.length);
  const abs = input.map(Math.abs);
  const mixtures = c.mixtures.map((m) => ({ ...m, wOff: c.gateW + m.wOff, zOff: c.z + m.zOff, outOff: c.out + m.outOff }));
  const gateGrads = c.gateGrads.map((g) => ({ ...g, wOff: c.gateW + g.wOff, zOff: c.z + g.zOff, dgOff: c.dG + g.dgOff, dlOff: c.dLogit + g.dlOff }));
  const expertGrads = c.expertGrads.map((e) => ({
    ...e, wOff: c.gateW + e.wOff, dzOff: c.dZ + e.dzOff, members: e.members.map((m) => ({ wCol: m.wCol, dgOff: c.dG + m.dgOff })),
  }));
  mixtureReference(mixtures, input, input, want);
  gateGradReference(gateGrads, input, input, input, want);
  gateGradReference(gateGrads, abs, abs, abs, magnitudes, true);
  expertGradReference(expertGrads, input, input, want);
  for (const m of mixtures) expectClose(`mixture rows ${m.rows}`, seed, layout.read(f, m.outOff, m.rows, m.d, m.outRow), layout.read(want, m.outOff, m.rows, m.d, m.outRow), 1e-5);
  for (const e of expertGrads) {
    const got = layout.read(f, e.dzOff, e.rows, e.d, e.dzRow);
    if (e.members.length === 0) expect(got.every((v) => v === 0)).toBe(true);
    else expectClose(`expert grad rows ${e.rows}`, seed, got, layout.read(want, e.dzOff, e.rows, e.d, e.dzRow), 1e-5);
  }
  for (const g of gateGrads) expectGateGradClose(layout, want, magnitudes, g, seed);
}

/** [from, count] blocks covering rows [0, rows) in order, of 1 to 3 random sizes. */
/** The optimizer's four regions of `count` floats, filled at random; the ones it writes marked as outputs. */
function optimizerRegions(rng: Rng, layout: Layout, kind: string, count: number): number[] {
  const [params, grads, m1, m2] = [0, 1, 2, 3].map(() => layout.region(count));
  layout.fill(params, 1, count, count);
  layout.fill(grads, 1, count, count);
  layout.fill(m1, 1, count, count, () => rng.normal() * 0.1);
  layout.fill(m2, 1, count, count, () => rng.uniform() * 0.01);
  for (const at of kind === 'sgd' ? [params, m1] : [params, m1, m2]) layout.markOutput(at, 1, count, count);
  return [params, grads, m1, m2];
}

/**
 * Per element, the sizes of the terms an optimizer update adds (the reference's formulas on
 * absolute values): an update may cancel to near 0 (m1 = beta1 m1 + (1 - beta1) g when g opposes
 * m1), and f32 rounds it relative to its terms, not to the small result.
 */
function optimizerTerms(o: ResolvedOptimizer, t: number, scale: number, decayEnd: number, old: { params: Float64Array; grads: Float64Array; m1: Float64Array }, m2: Float64Array) {
  const bc1 = 1 - Math.pow(o.beta1, t);
  const bc2 = 1 - Math.pow(o.beta2, t);
  const params = new Float64Array(old.params.length);
  const m1 = new Float64Array(old.params.length);
  old.params.forEach((pOld, i) => {
    const p = Math.abs(pOld);
    const wd = i < decayEnd ? o.weightDecay : 0;
    const g = Math.abs(old.grads[i]) * scale + (o.kind === 'adamw' ? 0 : wd * p);
    if (o.kind === 'sgd') {
      m1[i] = o.momentum * Math.abs(old.m1[i]) + g;
      params[i] = p + o.lr * m1[i];
    } else {
      m1[i] = o.beta1 * Math.abs(old.m1[i]) + (1 - o.beta1) * g;
      params[i] = p + (o.kind === 'adamw' ? o.lr * wd * p : 0) + (o.lr * (m1[i] / bc1)) / (Math.sqrt(m2[i] / bc2) + o.eps);
    }
  });
  return { params, m1 };
}

/** Every |got[i] - want[i]| <= tol terms[i]; the error names the first element past it and the seed. */
function expectWithinTerms(label: string, seed: number, got: ArrayLike<number>, want: ArrayLike<number>, terms: ArrayLike<number>, tol: number): void {
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * terms[i])) {
      throw new Error(`${label}[${i}] is ${got[i]}, want ${want[i]} within ${tol} x its terms' size ${terms[i]} (seed ${seed}; rerun with PLE_TEST_SEED=${seed})`);
    }
  }
}

function rowBlocks(rng: Rng, rows: number): [number, number][] {
  const cuts = [...new Set([0, rows, ...Array.from({ length: rng.int(0, 2) }, () => rng.int(1, rows))])].sort((a, b) => a - b);
  return cuts.slice(1).map((to, i) => [cuts[i], to - cuts[i]]);
}

describe('CPU mixture kernels (WASM SIMD) against the float64 reference', () => {
  for (const d of WIDTHS) {
    it(`d ${d}`, async () => {
      const seed = caseSeed(`cpu mixture d ${d}`);
      await withSeed(seed, async () => {
        const { rng, layout, ew } = await setup(seed);
        const rows = ROWS[rng.int(0, ROWS.length - 1)];
        const c = mixtureCase(rng, layout, rows, d);
        for (const m of c.mixtures) layout.markOutput(c.out + m.outOff, rows, d, m.outRow);
        for (const g of c.gateGrads) layout.markOutput(c.dLogit + g.dlOff, rows, g.n, g.dlRow);
        for (const e of c.expertGrads) layout.markOutput(c.dZ + e.dzOff, rows, d, e.dzRow);
        const f = layout.heap.f32;
        const before = layout.heap.u32.slice();
        const input = Float64Array.from(f);

        // Row blocks of random sizes, every entry on a block before the next block.
        for (const [from, count] of rowBlocks(rng, rows)) for (const m of c.mixtures) ew.mixture(m, c.gateW, c.z, c.out, from, count)();
        for (const [from, count] of rowBlocks(rng, rows)) for (const g of c.gateGrads) ew.gateGrad(g, c.gateW, c.z, c.dG, c.dLogit, from, count)();
        ew.expertGrads(c.expertGrads, c.gateW, c.dG, c.dZ)();
        layout.checkUntouched(before);

        expectMixtureCase(layout, c, input, seed);
      });
    });
  }
});

describe('CPU mixture ops through runCpuOp (src/cpu/kernels.ts) on more rows than one row block', () => {
  for (const d of [5, 17]) {
    it(`d ${d}`, async () => {
      const seed = caseSeed(`cpu mixture ops d ${d}`);
      await withSeed(seed, async () => {
        const { rng, layout, ew } = await setup(seed);
        // Past two blocks of 256 rows, the last partial; one gate's entries on fewer rows than the others.
        const rows = rng.int(513, 700);
        const c = mixtureCase(rng, layout, rows, d);
        const short = rng.int(1, 400);
        c.mixtures[0].rows = short;
        c.gateGrads[0].rows = short;
        for (const m of c.mixtures) layout.markOutput(c.out + m.outOff, m.rows, d, m.outRow);
        for (const g of c.gateGrads) layout.markOutput(c.dLogit + g.dlOff, g.rows, g.n, g.dlRow);
        const f = layout.heap.f32;
        const before = layout.heap.u32.slice();
        const input = Float64Array.from(f);
        // Every operand in the 'act' role at heap offset 0, so entry offsets are heap offsets.
        const mixtures = c.mixtures.map((m) => ({ ...m, wOff: c.gateW + m.wOff, zOff: c.z + m.zOff, outOff: c.out + m.outOff }));
        const gateGrads = c.gateGrads.map((g) => ({ ...g, wOff: c.gateW + g.wOff, zOff: c.z + g.zOff, dgOff: c.dG + g.dgOff, dlOff: c.dLogit + g.dlOff }));
        const context: CpuOpContext = {
          f32: f, u32: layout.heap.u32, base: { act: 0 } as Record<BufferRole, number>, gemm: await CpuGemm.create(layout.heap, 0, 64), elementwise: ew,
          gateLogits: { logitsAt: new Map(), entries: new Map(), fused: new Set(), extra: new Map() }, optimizerStep: null, clipMaxNorm: 0, paramCount: 0, normScratch: 0, lossScratch: 0, normInOptimizer: new Set(),
        };
        runCpuOp({ kernel: 'mixture', name: 'mixture', entries: mixtures, buffers: { gateW: 'act', z: 'act', out: 'act' } }, context);
        runCpuOp({ kernel: 'mixture_gate_grad', name: 'gate grad', entries: gateGrads, buffers: { gateW: 'act', z: 'act', dG: 'act', dLogit: 'act' } }, context);
        layout.checkUntouched(before);
        const want = Float64Array.from(input);
        const magnitudes = new Float64Array(input.length);
        const abs = input.map(Math.abs);
        mixtureReference(mixtures, input, input, want);
        gateGradReference(gateGrads, input, input, input, want);
        gateGradReference(gateGrads, abs, abs, abs, magnitudes, true);
        for (const m of mixtures) expectClose(`mixture rows ${m.rows}`, seed, layout.read(f, m.outOff, m.rows, d, m.outRow), layout.read(want, m.outOff, m.rows, d, m.outRow), 1e-5);
        for (const g of gateGrads) expectGateGradClose(layout, want, magnitudes, g, seed);
      });
    });
  }
});

describe('CPU expert gradient with more members than one WASM call adds', () => {
  // An expert mixed by 0, 1, 8 (one whole call), 9 and 19 gates (calls of 8 that accumulate, then the rest).
  for (const members of [0, 1, 8, 9, 19]) {
    for (const d of [5, 64]) {
      it(`${members} members, d ${d}`, async () => {
        const seed = caseSeed(`cpu expert grad members ${members} d ${d}`);
        await withSeed(seed, async () => {
          const { rng, layout, ew } = await setup(seed);
          const rows = ROWS[rng.int(0, ROWS.length - 1)];
          const wRow = members + rng.int(1, 3);
          const gateW = layout.region(rows * wRow);
          layout.fill(gateW, rows, wRow, wRow);
          const dgRow = d + rng.int(0, 3);
          const dG = layout.region(0);
          const wCols = Array.from({ length: wRow }, (_, i) => i).sort(() => rng.uniform() - 0.5).slice(0, members);
          const e: ExpertGradEntry = {
            rows, d, wOff: 0, wRow, dgRow, dzOff: 0, dzRow: d + rng.int(0, 3),
            members: wCols.map((wCol) => ({ wCol, dgOff: layout.region(rows * dgRow) - dG })),
          };
          for (const m of e.members) layout.fill(dG + m.dgOff, rows, d, dgRow);
          const dZ = layout.region(rows * e.dzRow);
          layout.markOutput(dZ, rows, d, e.dzRow);
          const f = layout.heap.f32;
          const before = layout.heap.u32.slice();
          const want = Float64Array.from(f);
          expertGradReference([{ ...e, wOff: gateW, dzOff: dZ, members: e.members.map((m) => ({ wCol: m.wCol, dgOff: dG + m.dgOff })) }], want, want, want);
          ew.expertGrads([e], gateW, dG, dZ)();
          layout.checkUntouched(before);
          const got = layout.read(f, dZ, rows, d, e.dzRow);
          if (members === 0) expect(got.every((v) => v === 0)).toBe(true);
          else expectClose(`expert grad, ${members} members`, seed, got, layout.read(want, dZ, rows, d, e.dzRow), 1e-5);
        });
      });
    }
  }
});

describe('CPU optimizer (WASM SIMD) against the float64 reference', () => {
  const optimizers: ResolvedOptimizer[] = [
    { kind: 'adam', lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, momentum: 0 },
    { kind: 'adamw', lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.05, momentum: 0 },
    { kind: 'sgd', lr: 0.1, beta1: 0, beta2: 0, eps: 0, weightDecay: 0.01, momentum: 0.9 },
    { kind: 'sgd', lr: 0.05, beta1: 0, beta2: 0, eps: 0, weightDecay: 0, momentum: 0 },
  ];
  for (const o of optimizers) {
    for (const count of [...WIDTHS, 1027]) {
      it(`${o.kind} (momentum ${o.momentum}) count ${count}`, async () => {
        const seed = caseSeed(`cpu optimizer ${o.kind} ${o.momentum} ${count}`);
        await withSeed(seed, async () => {
          const { rng, layout, ew } = await setup(seed);
          const [params, grads, m1, m2] = optimizerRegions(rng, layout, o.kind, count);
          const f = layout.heap.f32;
          const before = layout.heap.u32.slice();
          const t = rng.int(1, 6);
          const scale = rng.range(0.2, 2);
          const decayEnd = rng.int(0, count);
          const slice = (at: number) => Float64Array.from(f.subarray(at, at + count));
          const old = { params: slice(params), grads: slice(grads), m1: slice(m1) };
          const want = { params: slice(params), m1: slice(m1), m2: slice(m2) };
          optimizerReference(o, t, o.lr, scale, want.params, old.grads, want.m1, want.m2, decayEnd);
          ew.optimizer({ optimizer: o, t, lr: o.lr, scale, decayEnd }, count, params, grads, m1, m2);
          layout.checkUntouched(before);
          const terms = optimizerTerms(o, t, scale, decayEnd, old, want.m2);
          expectWithinTerms('params', seed, f.subarray(params, params + count), want.params, terms.params, 1e-6);
          expectWithinTerms('m1', seed, f.subarray(m1, m1 + count), want.m1, terms.m1, 1e-6);
          if (o.kind !== 'sgd') expectClose('m2', seed, f.subarray(m2, m2 + count), want.m2, 1e-6);
        });
      });
    }
  }

  // grad_norm's sum in the optimizer's pass: the update as without it, the partial sums as sumSquares writes them.
  for (const count of [5, 8192, 20011]) {
    it(`adam with the gradients' squares, count ${count}`, async () => {
      const seed = caseSeed(`cpu optimizer squares ${count}`);
      await withSeed(seed, async () => {
        const { rng, layout, ew } = await setup(seed);
        const o = optimizers[0];
        const [params, grads, m1, m2] = optimizerRegions(rng, layout, o.kind, count);
        const floats = sumSquaresFloats(count);
        const [partials, alone] = [layout.region(floats, 2), layout.region(floats, 2)];
        for (const at of [partials, alone]) layout.markOutput(at, 1, floats, floats);
        const f = layout.heap.f32;
        const start = layout.heap.u32.slice();
        const step = { optimizer: o, t: rng.int(1, 6), lr: o.lr, scale: rng.range(0.2, 2), decayEnd: rng.int(0, count) };
        ew.optimizer(step, count, params, grads, m1, m2);
        const without = layout.heap.u32.slice();
        layout.heap.u32.set(start);
        ew.optimizer(step, count, params, grads, m1, m2, partials);
        layout.checkUntouched(start);
        for (const at of [params, m1, m2]) {
          const differs = layout.heap.u32.subarray(at, at + count).findIndex((v, i) => v !== without[at + i]);
          if (differs >= 0) throw new Error(`element ${differs} of the update differs with the squares summed (seed ${seed})`);
        }
        ew.sumSquares(count, grads, alone)();
        expect(ew.squaresTotal(count, partials), `seed ${seed}`).toBe(ew.squaresTotal(count, alone));
        const want = gradNormReference(f.subarray(grads, grads + count), 0);
        expectClose('sum of squares', seed, [ew.squaresTotal(count, partials)], [want.norm * want.norm], 1e-12);
      });
    });
  }
});

describe('CPU gate softmax (WASM SIMD exp) against the float64 reference', () => {
  for (const n of [1, 2, 3, 5, 6, 7, 9, 17]) {
    it(`n ${n}`, async () => {
      const seed = caseSeed(`cpu softmax n ${n}`);
      await withSeed(seed, async () => {
        const { rng, layout, ew } = await setup(seed);
        // Random f32 logits, from near-equal to a spread past exp's f32 range. The reference gets the
        // same logits as its input X times an identity W (exact in float64).
        for (const spread of [0.01, 1, 5, 60]) {
          const rows = ROWS[rng.int(0, ROWS.length - 1)];
          const logits = layout.region(rows * n);
          layout.fill(logits, rows, n, n, () => rng.normal() * spread + rng.normal());
          const outRow = n + rng.int(0, 3);
          const out = layout.region(rows * outRow);
          const f = layout.heap.f32;
          const x = Float64Array.from(f.subarray(logits, logits + rows * n));
          const identity = Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0));
          const want = new Float64Array(rows * outRow);
          const e: GateEntry = { rows, n, k: n, xOff: 0, xRow: n, wOff: 0, outOff: 0, outRow };
          gateSoftmaxReference([e], x, identity, want);
          layout.markOutput(logits, rows, n, n);
          layout.markOutput(out, rows, n, outRow);
          const before = layout.heap.u32.slice();
          ew.softmaxRows([{ rows, n, logits, out, outRow }])();
          layout.checkUntouched(before);
          // Each within f32 rounding: exp's and that of the logit minus the row's max (relative |l - max| 2^-24).
          const got = layout.read(f, out, rows, n, outRow);
          layout.read(want, 0, rows, n, outRow).forEach((v, i) => {
            if (!(Math.abs(got[i] - v) <= 2e-6 * v + 1e-8)) throw new Error(`spread ${spread}, element ${i}: ${got[i]} vs ${v} (seed ${seed})`);
          });
        }
      });
    });
  }
});

describe('CPU grad_norm (WASM SIMD sum of squares in float64) against the float64 reference', () => {
  it('keeps a partial sum per 8192 floats, and at most 256 of them', () => {
    expect([1, 8192, 8193, 3 * 8192 + 1, 256 * 8192, 256 * 8192 + 1, 10_000_000].map(sumSquaresFloats)).toEqual([2, 2, 4, 8, 512, 512, 512]);
  });
  for (const count of [...WIDTHS, 1027, 8192, 8193, 100003]) {
    it(`count ${count}`, async () => {
      const seed = caseSeed(`cpu grad norm ${count}`);
      await withSeed(seed, async () => {
        const { rng, layout, ew } = await setup(seed);
        // Gradients over several magnitudes, the parameter arena at an unaligned offset, clip's two floats after it.
        const grads = layout.region(count);
        layout.fill(grads, 1, count, count, () => rng.normal() * Math.pow(10, rng.int(-6, 2)));
        const clip = layout.region(2);
        layout.markOutput(clip, 1, 2, 2);
        // The partial sums' f64s, 8-byte aligned.
        const partials = layout.region(sumSquaresFloats(count), 2);
        layout.markOutput(partials, 1, sumSquaresFloats(count), sumSquaresFloats(count));
        const f = layout.heap.f32;
        const base = { grads, clip } as Record<BufferRole, number>;
        const want = gradNormReference(f.subarray(grads, grads + count), 0);
        // The sum itself is float64's: f32 partial sums would be off by far more than 1e-12.
        ew.sumSquares(count, grads, partials)();
        expectClose('sum of squares', seed, [ew.squaresTotal(count, partials)], [want.norm * want.norm], 1e-12);
        // The op needs a GEMM in its context; grad_norm never runs it.
        const gemm = await CpuGemm.create(layout.heap, 0, 64);
        // Clipping off, a bound below the norm (scaled) and one above it (scale 1).
        for (const maxNorm of [0, want.norm / 3, want.norm * 3]) {
          const context: CpuOpContext = {
            f32: f, u32: layout.heap.u32, base, gemm, elementwise: ew, gateLogits: { logitsAt: new Map(), entries: new Map(), fused: new Set(), extra: new Map() }, optimizerStep: null, clipMaxNorm: maxNorm, paramCount: count, normScratch: partials, lossScratch: 0, normInOptimizer: new Set(),
          };
          const before = layout.heap.u32.slice();
          runCpuOp({ kernel: 'grad_norm', name: 'step', buffers: { uniform: 'clipUniform', grads: 'grads', out: 'clip' } }, context);
          layout.checkUntouched(before);
          const ref = gradNormReference(f.subarray(grads, grads + count), maxNorm);
          // float64 sums in another order, then rounded to f32: within f32 rounding.
          expectClose(`norm, maxNorm ${maxNorm}`, seed, [f[clip + 1]], [ref.norm], 1e-7);
          expectClose(`scale, maxNorm ${maxNorm}`, seed, [f[clip]], [ref.scale], 1e-7);
        }
      });
    });
  }
});

/**
 * Runs `op` on the element-wise kernels on 1, 2 and 3 threads (minFlopsPerThread 0: every op split),
 * each time from the same heap contents: each run must leave every non-output float as it was and
 * split into at least two pool calls, and 2 and 3 threads must write the 1-thread run's bits. The
 * heap is left as the runs wrote it (the same on every thread count), for the caller's reference check.
 */
async function onThreads(layout: Layout, seed: number, op: (ew: CpuElementwise) => void): Promise<void> {
  const heap = layout.heap;
  const before = heap.u32.slice();
  let oneThread: Uint32Array | undefined;
  for (const threads of [1, 2, 3]) {
    heap.u32.set(before);
    const pool = threads > 1 ? await CpuThreadPool.create(heap.memory, [await elementwiseModule(true)], threads) : undefined;
    let calls = 0;
    try {
      if (pool) {
        const run = pool.run.bind(pool);
        pool.run = (list) => {
          calls += list.reduce((n, part) => n + part.length, 0);
          run(list);
        };
      }
      op(await CpuElementwise.create(heap, { pool, minFlopsPerThread: 0 }));
    } finally {
      pool?.destroy();
    }
    layout.checkUntouched(before);
    const now = heap.u32.slice();
    if (!oneThread) {
      oneThread = now;
      continue;
    }
    expect(calls, `pool calls on ${threads} threads (seed ${seed})`).toBeGreaterThanOrEqual(2);
    const differs = now.findIndex((v, i) => v !== oneThread![i]);
    if (differs >= 0) throw new Error(`${threads} threads: heap element ${differs} is not the 1-thread run's (seed ${seed})`);
  }
}

describe('CPU element-wise ops split over 1, 2 and 3 threads: bit for bit as 1 thread, against the float64 reference', () => {
  const shared = async (seed: number) => {
    const rng = new Rng(seed);
    return { rng, layout: new Layout(rng, { shared: true }) };
  };

  for (const cols of [33, 65]) {
    it(`bias_act_backward, cols ${cols}`, async () => {
      const seed = caseSeed(`cpu threads bias_act cols ${cols}`);
      await withSeed(seed, async () => {
        const { rng, layout } = await shared(seed);
        const entries: BiasActEntry[] = [];
        for (const [relu, withDb] of [[true, true], [false, true], [true, false]] as const) {
          const rows = rng.int(20, 40);
          const dyRow = cols + rng.int(0, 3);
          const yRow = cols + rng.int(0, 3);
          const e: BiasActEntry = { rows, cols, relu, dyOff: layout.region(rows * dyRow), dyRow, yOff: layout.region(rows * yRow), yRow, dbOff: withDb ? layout.region(cols) : undefined };
          layout.fill(e.dyOff, rows, cols, dyRow);
          layout.fill(e.yOff, rows, cols, yRow, () => (rng.uniform() < 0.5 ? -1 : 1) * rng.range(0, 2));
          if (relu) layout.markOutput(e.dyOff, rows, cols, dyRow);
          if (withDb) layout.markOutput(e.dbOff!, 1, cols, cols);
          entries.push(e);
        }
        const f = layout.heap.f32;
        const want = Float64Array.from(f);
        biasActBackwardReference(entries, want, want, want);
        await onThreads(layout, seed, (ew) => ew.biasActBackward(entries, 0, 0, 0)());
        for (const e of entries) {
          expect(layout.read(f, e.dyOff, e.rows, cols, e.dyRow)).toEqual(layout.read(Float32Array.from(want), e.dyOff, e.rows, cols, e.dyRow));
          if (e.dbOff !== undefined) expectClose(`db rows ${e.rows}`, seed, layout.read(f, e.dbOff, 1, cols, cols), layout.read(want, e.dbOff, 1, cols, cols), 1e-5);
        }
      });
    });
  }

  for (const d of [5, 64]) {
    it(`mixture, gate gradient and expert gradient, d ${d}`, async () => {
      const seed = caseSeed(`cpu threads mixture d ${d}`);
      await withSeed(seed, async () => {
        const { rng, layout } = await shared(seed);
        const rows = rng.int(30, 70);
        const c = mixtureCase(rng, layout, rows, d);
        c.mixtures[0].rows = c.gateGrads[0].rows = rng.int(1, rows - 1);
        for (const m of c.mixtures) layout.markOutput(c.out + m.outOff, m.rows, d, m.outRow);
        for (const g of c.gateGrads) layout.markOutput(c.dLogit + g.dlOff, g.rows, g.n, g.dlRow);
        for (const e of c.expertGrads) layout.markOutput(c.dZ + e.dzOff, rows, d, e.dzRow);
        const input = Float64Array.from(layout.heap.f32);
        await onThreads(layout, seed, (ew) => {
          ew.mixtures(c.mixtures, c.gateW, c.z, c.out)();
          ew.gateGrads(c.gateGrads, c.gateW, c.z, c.dG, c.dLogit)();
          ew.expertGrads(c.expertGrads, c.gateW, c.dG, c.dZ)();
        });
        expectMixtureCase(layout, c, input, seed);
      });
    });
  }

  it('expert gradient with 19 members (calls of 8 that accumulate, in waves)', async () => {
    const seed = caseSeed('cpu threads expert grad 19 members');
    await withSeed(seed, async () => {
      const { rng, layout } = await shared(seed);
      const [rows, d, members] = [rng.int(30, 70), 13, 19];
      const wRow = members + 2;
      const gateW = layout.region(rows * wRow);
      layout.fill(gateW, rows, wRow, wRow);
      const dgRow = d + 1;
      const e: ExpertGradEntry = {
        rows, d, wOff: gateW, wRow, dgRow, dzOff: 0, dzRow: d + 2,
        members: Array.from({ length: members }, (_, i) => ({ wCol: (i * 7) % wRow, dgOff: layout.region(rows * dgRow) })),
      };
      for (const m of e.members) layout.fill(m.dgOff, rows, d, dgRow);
      e.dzOff = layout.region(rows * e.dzRow);
      layout.markOutput(e.dzOff, rows, d, e.dzRow);
      const want = Float64Array.from(layout.heap.f32);
      expertGradReference([e], want, want, want);
      await onThreads(layout, seed, (ew) => ew.expertGrads([{ ...e, wOff: 0 }], gateW, 0, 0)());
      expectClose('expert grad', seed, layout.read(layout.heap.f32, e.dzOff, rows, d, e.dzRow), layout.read(want, e.dzOff, rows, d, e.dzRow), 1e-5);
    });
  });

  const optimizers: ResolvedOptimizer[] = [
    { kind: 'adam', lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, momentum: 0 },
    { kind: 'adamw', lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.05, momentum: 0 },
    { kind: 'sgd', lr: 0.1, beta1: 0, beta2: 0, eps: 0, weightDecay: 0.01, momentum: 0.9 },
  ];
  for (const o of optimizers) {
    it(`optimizer ${o.kind}, count 1027`, async () => {
      const seed = caseSeed(`cpu threads optimizer ${o.kind}`);
      await withSeed(seed, async () => {
        const { rng, layout } = await shared(seed);
        const count = 1027;
        const [params, grads, m1, m2] = optimizerRegions(rng, layout, o.kind, count);
        const f = layout.heap.f32;
        const [t, scale, decayEnd] = [rng.int(1, 6), rng.range(0.2, 2), rng.int(1, count - 1)];
        const slice = (at: number) => Float64Array.from(f.subarray(at, at + count));
        const want = { params: slice(params), m1: slice(m1), m2: slice(m2) };
        optimizerReference(o, t, o.lr, scale, want.params, slice(grads), want.m1, want.m2, decayEnd);
        await onThreads(layout, seed, (ew) => ew.optimizer({ optimizer: o, t, lr: o.lr, scale, decayEnd }, count, params, grads, m1, m2));
        expectClose('params', seed, f.subarray(params, params + count), want.params, 1e-6);
        expectClose('m1', seed, f.subarray(m1, m1 + count), want.m1, 1e-6);
        if (o.kind !== 'sgd') expectClose('m2', seed, f.subarray(m2, m2 + count), want.m2, 1e-6);
      });
    });
  }

  it("adam with the gradients' squares, several chunks", async () => {
    const seed = caseSeed('cpu threads optimizer squares');
    await withSeed(seed, async () => {
      const { rng, layout } = await shared(seed);
      const o = optimizers[0];
      const count = rng.int(2 * 8192, 4 * 8192);
      const [params, grads, m1, m2] = optimizerRegions(rng, layout, o.kind, count);
      const partials = layout.region(sumSquaresFloats(count), 2);
      layout.markOutput(partials, 1, sumSquaresFloats(count), sumSquaresFloats(count));
      const f = layout.heap.f32;
      const [t, scale, decayEnd] = [rng.int(1, 6), rng.range(0.2, 2), rng.int(1, count - 1)];
      const slice = (at: number) => Float64Array.from(f.subarray(at, at + count));
      const want = { params: slice(params), m1: slice(m1), m2: slice(m2), norm: gradNormReference(f.subarray(grads, grads + count), 0).norm };
      optimizerReference(o, t, o.lr, scale, want.params, slice(grads), want.m1, want.m2, decayEnd);
      let total = NaN;
      await onThreads(layout, seed, (ew) => {
        ew.optimizer({ optimizer: o, t, lr: o.lr, scale, decayEnd }, count, params, grads, m1, m2, partials);
        total = ew.squaresTotal(count, partials);
      });
      expectClose('params', seed, f.subarray(params, params + count), want.params, 1e-6);
      expectClose('m2', seed, f.subarray(m2, m2 + count), want.m2, 1e-6);
      expectClose('sum of squares', seed, [total], [want.norm * want.norm], 1e-12);
    });
  });

  it('gate softmax, three gates of n 2, 5 and 7 in one softmaxRows', async () => {
    const seed = caseSeed('cpu threads softmax');
    await withSeed(seed, async () => {
      const { rng, layout } = await shared(seed);
      const gates = [2, 5, 7].map((n) => {
        const rows = rng.int(30, 70);
        const logits = layout.region(rows * n);
        layout.fill(logits, rows, n, n, () => rng.normal() * 3);
        const outRow = n + rng.int(0, 2);
        const out = layout.region(rows * outRow);
        const x = Float64Array.from(layout.heap.f32.subarray(logits, logits + rows * n));
        const identity = Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0));
        const want = new Float64Array(rows * outRow);
        gateSoftmaxReference([{ rows, n, k: n, xOff: 0, xRow: n, wOff: 0, outOff: 0, outRow }], x, identity, want);
        layout.markOutput(logits, rows, n, n);
        layout.markOutput(out, rows, n, outRow);
        return { rows, n, logits, out, outRow, want };
      });
      await onThreads(layout, seed, (ew) => ew.softmaxRows(gates)());
      for (const { rows, n, out, outRow, want } of gates) {
        const got = layout.read(layout.heap.f32, out, rows, n, outRow);
        layout.read(want, 0, rows, n, outRow).forEach((v, i) => {
          if (!(Math.abs(got[i] - v) <= 2e-6 * v + 1e-8)) throw new Error(`n ${n}, element ${i}: ${got[i]} vs ${v} (seed ${seed})`);
        });
      }
    });
  });

  it("grad_norm's sum of squares, several chunks", async () => {
    const seed = caseSeed('cpu threads sum of squares');
    await withSeed(seed, async () => {
      const { rng, layout } = await shared(seed);
      const count = rng.int(3 * 8192, 5 * 8192);
      const grads = layout.region(count);
      layout.fill(grads, 1, count, count, () => rng.normal() * Math.pow(10, rng.int(-6, 2)));
      const partials = layout.region(sumSquaresFloats(count), 2);
      layout.markOutput(partials, 1, sumSquaresFloats(count), sumSquaresFloats(count));
      let total = NaN;
      // onThreads checks that the partial sums are the same bits on every thread count; so is their total, then.
      await onThreads(layout, seed, (ew) => {
        ew.sumSquares(count, grads, partials)();
        total = ew.squaresTotal(count, partials);
      });
      const want = gradNormReference(layout.heap.f32.subarray(grads, grads + count), 0);
      expectClose('sum of squares', seed, [total], [want.norm * want.norm], 1e-12);
    });
  });
});

describe('CPU task losses (WASM SIMD exp and log1p) against the float64 reference, on 1, 2 and 3 threads', () => {
  // Sample counts around the kernel's groups of 4 (a last group of 1, 2 and 3) and the sums' blocks of 256; logits
  // mostly of the given scale (near 0, log1p's series takes every term).
  const shapes: [string, [TaskType, number][], number, number][] = [
    ['binary and regression, 1 sample', [['binary', 0.2], ['regression', 0]], 1, 4],
    ['binary and regression, 7 samples', [['binary', 0.3], ['regression', 0.3]], 7, 4],
    ['two binary tasks, 30 samples, logits near 0', [['binary', 0.1], ['binary', 0.3]], 30, 0.3],
    ['three tasks, 257 samples, one with no labels', [['binary', 0.1], ['regression', 1], ['binary', 0.5]], 257, 4],
    ['two binary tasks, 600 samples', [['binary', 0], ['binary', 0.4]], 600, 4],
  ];
  for (const [label, tasks, rows, logitScale] of shapes) {
    it(label, async () => {
      const seed = caseSeed(`cpu task losses ${label}`);
      await withSeed(seed, async () => {
        const rng = new Rng(seed);
        const layout = new Layout(rng, { shared: true });
        const f = layout.heap.f32;
        const K = tasks.length;
        const weights = layout.region(K);
        layout.fill(weights, 1, K, K, () => rng.range(0.2, 2));
        // Logits of every task side by side; labels and masks interleaved in one buffer, as the plan lays them out.
        const logits = layout.region(K * rows);
        const labelRow = 2 * K + rng.int(0, 2);
        const labels = layout.region(rows * labelRow);
        const dLogits = layout.region(K * rows);
        const out = layout.region(2 * K);
        const entries: TaskLossEntry[] = tasks.map(([type], task) => ({
          type, rows, task, logitOff: task * rows, labelOff: task, labelRow, maskOff: K + task, maskRow: labelRow, dOff: task * rows, outOff: 0,
        }));
        const partials = layout.region(taskLossFloats(entries), 2);
        // Logits of every size: confident ones past exp's range, exact zeros of both signs, tiny ones.
        const extremes = [100, -100, 30, -30, 0, -0, 1e-30, -1e-30, 17, -17];
        for (let i = 0; i < K * rows; i++) f[logits + i] = rng.uniform() < 0.2 ? extremes[rng.int(0, extremes.length - 1)] : rng.normal() * logitScale;
        tasks.forEach(([type, unlabelled], k) => {
          for (let r = 0; r < rows; r++) {
            const labelled = rng.uniform() >= unlabelled;
            f[labels + r * labelRow + K + k] = labelled ? 1 : 0;
            // A masked sample's label may be missing (NaN): it must not reach the sums.
            f[labels + r * labelRow + k] = !labelled && rng.uniform() < 0.5 ? NaN : type === 'binary' ? rng.int(0, 1) : rng.normal() * 3;
          }
        });
        layout.markOutput(dLogits, 1, K * rows, K * rows);
        layout.markOutput(out, 1, 2 * K, 2 * K);
        layout.markOutput(partials, 1, taskLossFloats(entries), taskLossFloats(entries));
        const input = Float64Array.from(f);
        const wantD = new Float64Array(f.length);
        const wantOut = new Float64Array(f.length);
        const shifted = entries.map((e) => ({ ...e, logitOff: logits + e.logitOff, labelOff: labels + e.labelOff, maskOff: labels + e.maskOff, dOff: dLogits + e.dOff, outOff: out }));
        taskLossReference(shifted, input.subarray(weights), input, input, wantD, wantOut);
        await onThreads(layout, seed, (ew) => ew.taskLosses(entries, weights, logits, labels, dLogits, out, partials)());
        for (const e of shifted) {
          const got = Array.from(f.subarray(e.dOff, e.dOff + rows));
          const want = Array.from(wantD.subarray(e.dOff, e.dOff + rows));
          // An unlabelled sample's gradient is exactly +0; a labelled one's within a few f32 ulp of the reference's, or
          // within 1e-15 of the task's scale w / count: the reference's own error where 1 / (1 + e) - y cancels in
          // float64 (a confident right prediction's, which the kernel computes without cancelling) and where exp(-|z|)
          // is below f32's range (the kernel's is then about 1e-38).
          const count = wantOut[out + 2 * e.task + 1];
          const scale = count > 0 ? input[weights + e.task] / count : 0;
          got.forEach((g, r) => {
            const masked = !(f[e.maskOff + r * labelRow] > 0);
            if (masked ? !Object.is(g, 0) : !(Math.abs(g - want[r]) <= 1e-6 * Math.abs(want[r]) + 1e-15 * scale)) {
              throw new Error(`task ${e.task} sample ${r}: gradient ${g}, want ${want[r]} (seed ${seed})`);
            }
          });
          expect(f[out + 2 * e.task + 1], `task ${e.task} count`).toBe(wantOut[out + 2 * e.task + 1]);
          // The mean loss within 1e-6 (the kernel's f32 terms, summed in float64), or 1e-30 where it is all but 0: a
          // confident right prediction past exp's range adds about 1e-38 where the reference adds less.
          const [gotLoss, wantLoss] = [f[out + 2 * e.task], wantOut[out + 2 * e.task]];
          if (!(Math.abs(gotLoss - wantLoss) <= 1e-6 * Math.abs(wantLoss) + 1e-30)) throw new Error(`task ${e.task}: mean loss ${gotLoss}, want ${wantLoss} (seed ${seed})`);
          if (count === 0) expect(gotLoss, `task ${e.task} loss without labels`).toBe(0);
        }
      });
    });
  }
});
