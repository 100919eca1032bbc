/**
 * The CPU device's element-wise kernels in WebAssembly SIMD (encoder: src/cpu/wasm.ts), on the
 * floats of one CpuHeap: bias_act_backward, the three mixture kernels, the optimizer updates, the
 * gates' softmax, the task losses and grad_norm's sum of squares, with the semantics of their
 * float64 references (src/reference/bias_act_backward.ts, mixture.ts, optimizer.ts,
 * gate_softmax.ts, task_loss.ts, grad_norm.ts), in f32 as the GPU computes them (grad_norm's sum
 * and the losses' sums over samples in float64); and the staged batch's check for values that are
 * not finite (src/input-stage.ts). The mixture kernels make one pass over each row of their
 * output, its sums in registers.
 * src/cpu/kernels.ts maps the ops to these; with a thread pool they split over its threads (see
 * CpuElementwise). Test: test/cpu_elementwise.test.ts.
 *
 * Every kernel walks a row's contiguous floats 16 at a time (four f32x4), then 4 at a time, then
 * one at a time (a splat load and a one-lane store), so any width works and only the entry's own
 * floats are written. Operands sit at any float offset: loads and stores carry the f32 alignment
 * hint. Addresses and strides passed to the module are in bytes.
 */
import type { ResolvedOptimizer } from '../config.js';
import type { BiasActEntry } from '../kernels/bias_act_backward.js';
import type { ExpertGradEntry, GateGradEntry, MixtureEntry } from '../kernels/mixture.js';
import type { TaskLossEntry } from '../kernels/task_loss.js';
import type { CpuHeap } from './heap.js';
import { MIN_FLOPS_PER_THREAD } from './gemm.js';
import { partOf, threadsForWork, type Call, type CpuThreadPool } from './pool.js';
import { moduleCompiler, f32, f64, FunctionBuilder, i32, v128 } from './wasm.js';

/** How many floats one step of a row walk covers, and how it loads (address on the stack) and stores (address, value) vector h of them. */
interface Step {
  floats: number;
  vecs: number;
  load(f: FunctionBuilder, h: number): void;
  store(f: FunctionBuilder, h: number): void;
}
const WIDE: Step = { floats: 16, vecs: 4, load: (f, h) => f.v128LoadF32(16 * h), store: (f, h) => f.v128StoreF32(16 * h) };
const VEC: Step = { floats: 4, vecs: 1, load: (f, h) => f.v128LoadF32(16 * h), store: (f, h) => f.v128StoreF32(16 * h) };
/** One float: splat into all four lanes; lane 0 is stored. */
const ONE: Step = { floats: 1, vecs: 1, load: (f) => f.v128Load32Splat(), store: (f) => f.v128Store32Lane(0) };
const STEPS = [WIDE, VEC, ONE];

/** Walks col over [0, width) floats in STEPS: body(step) handles floats [col, col + step.floats). */
function walk(f: FunctionBuilder, col: number, width: number, body: (s: Step) => void): void {
  f.i32Const(0).set(col);
  for (const s of STEPS) {
    f.block().loop();
    f.get(col).i32Const(s.floats).i32Add().get(width).i32GtS().brIf(1);
    body(s);
    f.get(col).i32Const(s.floats).i32Add().set(col).br(0).end().end();
  }
}

/** address = base + 4 col, on the stack. */
function at(f: FunctionBuilder, base: number, col: number): FunctionBuilder {
  return f.get(base).get(col).i32Const(2).i32Shl().i32Add();
}

/** The f32 sum of the four lanes of a v128 local, (l0 + l1) + (l2 + l3), on the stack. */
function laneSum(f: FunctionBuilder, v: number): void {
  f.get(v).f32x4ExtractLane(0).get(v).f32x4ExtractLane(1).f32Add();
  f.get(v).f32x4ExtractLane(2).get(v).f32x4ExtractLane(3).f32Add().f32Add();
}

/** An i8x16 shuffle of a vector with itself that moves its lanes 2 and 3 to 0 and 1 (for f64x2.promote_low). */
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];

/**
 * The kernels that give each of four rows a SIMD lane (softmaxRows, taskLossRows) take rows in
 * groups of four from g: `lanes` = min(4, rows - g) are real, and lane l reads row g + min(l, lanes
 * - 1), so the spare lanes of a last, short group repeat its last row.
 */
function groupLanes(f: FunctionBuilder, g: number, rows: number, lanes: number): void {
  f.get(rows).get(g).i32Sub().set(lanes);
  f.i32Const(4).get(lanes).get(lanes).i32Const(4).i32GtS().select().set(lanes);
}
/** Lane l's row within its group, min(l, lanes - 1), on the stack (groupLanes). */
function laneRow(f: FunctionBuilder, l: number, lanes: number): void {
  if (l === 0) f.i32Const(0);
  else f.i32Const(l).get(lanes).i32Const(1).i32Sub().get(lanes).i32Const(l).i32GtS().select();
}
/** A vector of one f32 per lane, lane l's read at the address `address(l)` pushes; `v` is a scratch v128 local. */
function loadLanes(f: FunctionBuilder, v: number, address: (l: number) => void): void {
  f.v128ConstF32(0);
  for (let l = 0; l < 4; l++) {
    f.set(v);
    address(l);
    f.get(v).v128Load32Lane(l);
  }
}

const FLAG_RELU = 1;
const FLAG_DB = 2;

/**
 * `biasAct(rows, cols, dy, dyRow, y, yRow, db, flags)`: with FLAG_RELU, dY[r, c] = 0 where !(Y[r, c] >
 * 0) (a compare mask, no branch); with FLAG_DB, db[c] = sum_r dY[r, c]. Columns outer, rows inner,
 * the column sums in v128 accumulators.
 */
function emitBiasAct(): FunctionBuilder {
  const f = new FunctionBuilder([i32, i32, i32, i32, i32, i32, i32, i32]);
  const [rows, cols, dy, dyRow, y, yRow, db, flags] = f.params.map((_, i) => i);
  const col = f.local(i32);
  const r = f.local(i32);
  const dp = f.local(i32);
  const yp = f.local(i32);
  const v = f.local(v128);
  const zero = f.local(v128);
  const acc = Array.from({ length: 4 }, () => f.local(v128));
  f.v128ConstF32(0).set(zero);
  const rowLoop = (s: Step, relu: boolean) => f.countUp(r, () => f.get(rows), 1, () => {
    for (let h = 0; h < s.vecs; h++) {
      f.get(dp); s.load(f, h);
      if (relu) {
        f.get(yp); s.load(f, h); f.get(zero).f32x4Gt().v128And().set(v);
        f.get(dp).get(v); s.store(f, h);
        f.get(v);
      }
      f.get(acc[h]).f32x4Add().set(acc[h]);
    }
    f.get(dp).get(dyRow).i32Add().set(dp);
    if (relu) f.get(yp).get(yRow).i32Add().set(yp);
  });
  walk(f, col, cols, (s) => {
    for (let h = 0; h < s.vecs; h++) f.get(zero).set(acc[h]);
    at(f, dy, col).set(dp);
    at(f, y, col).set(yp);
    f.get(flags).i32Const(FLAG_RELU).i32And().if();
    rowLoop(s, true);
    f.else();
    rowLoop(s, false);
    f.end();
    f.get(flags).i32Const(FLAG_DB).i32And().if();
    for (let h = 0; h < s.vecs; h++) { at(f, db, col).get(acc[h]); s.store(f, h); }
    f.end();
  });
  return f;
}

/**
 * `mixRows(rows, d, ownCount, sharedCount, w, wRow, zOwn, zShared, zRow, out, outRow)`: out[r, i] =
 * sum_j w[r, j] z_j[r, i] for i < d, the members j in order: ownCount experts from zOwn, then
 * sharedCount from zShared, each d floats, side by side. Per 16 (4, 1) floats of a row, the sum stays
 * in registers over all members; one pass over each row of out. The pointer parameters walk down
 * the rows.
 */
function emitMixRows(): FunctionBuilder {
  const f = new FunctionBuilder(Array<typeof i32>(11).fill(i32));
  const [rows, d, ownCount, sharedCount, w, wRow, zOwn, zShared, zRow, out, outRow] = f.params.map((_, i) => i);
  const col = f.local(i32);
  const r = f.local(i32);
  const j = f.local(i32);
  const wp = f.local(i32);
  const zp = f.local(i32);
  const rowBytes = f.local(i32);
  const wv = f.local(v128);
  const acc = Array.from({ length: 4 }, () => f.local(v128));
  f.get(d).i32Const(2).i32Shl().set(rowBytes);
  f.countUp(r, () => f.get(rows), 1, () => {
    walk(f, col, d, (s) => {
      for (let h = 0; h < s.vecs; h++) f.v128ConstF32(0).set(acc[h]);
      f.get(w).set(wp);
      for (const [first, count] of [[zOwn, ownCount], [zShared, sharedCount]]) {
        f.get(first).set(zp);
        f.countUp(j, () => f.get(count), 1, () => {
          f.get(wp).v128Load32Splat().set(wv);
          for (let h = 0; h < s.vecs; h++) { f.get(acc[h]).get(wv); at(f, zp, col); s.load(f, h); f.f32x4Mul().f32x4Add().set(acc[h]); }
          f.get(wp).i32Const(4).i32Add().set(wp);
          f.get(zp).get(rowBytes).i32Add().set(zp);
        });
      }
      for (let h = 0; h < s.vecs; h++) { at(f, out, col).get(acc[h]); s.store(f, h); }
    });
    for (const [p, stride] of [[w, wRow], [zOwn, zRow], [zShared, zRow], [out, outRow]]) f.get(p).get(stride).i32Add().set(p);
  });
  return f;
}

/** The most terms one sumRows call adds (an expert that more gates mix takes several calls). */
const MAX_TERMS = 8;

/**
 * `sumRows<T>(rows, d, gRow, sRow, dst, dstRow, accumulate, g_0..g_T-1, s_0..s_T-1)`: dst[r, i] =
 * (accumulate ? dst[r, i] : 0) + sum_t g_t[r] s_t[r, i] for i < d, the terms added in order t = 0, 1,
 * ...; g_t[r] is one float at g_t + r gRow, s_t's row r starts at s_t + r sRow. One pass over each
 * row of dst, its sum in registers; the pointer parameters walk down the rows.
 */
function emitSumRows(terms: number): FunctionBuilder {
  const f = new FunctionBuilder([i32, i32, i32, i32, i32, i32, i32, ...Array<typeof i32>(2 * terms).fill(i32)]);
  const [rows, d, gRow, sRow, dst, dstRow, accumulate] = [0, 1, 2, 3, 4, 5, 6];
  const g = Array.from({ length: terms }, (_, t) => 7 + t);
  const src = Array.from({ length: terms }, (_, t) => 7 + terms + t);
  const col = f.local(i32);
  const r = f.local(i32);
  const gv = g.map(() => f.local(v128));
  const rowLoop = (add: boolean) => f.countUp(r, () => f.get(rows), 1, () => {
    for (let t = 0; t < terms; t++) f.get(g[t]).v128Load32Splat().set(gv[t]);
    walk(f, col, d, (s) => {
      for (let h = 0; h < s.vecs; h++) {
        at(f, dst, col);
        if (add) { at(f, dst, col); s.load(f, h); }
        for (let t = 0; t < terms; t++) {
          f.get(gv[t]); at(f, src[t], col); s.load(f, h); f.f32x4Mul();
          if (add || t > 0) f.f32x4Add();
        }
        s.store(f, h);
      }
    });
    for (let t = 0; t < terms; t++) {
      f.get(g[t]).get(gRow).i32Add().set(g[t]);
      f.get(src[t]).get(sRow).i32Add().set(src[t]);
    }
    f.get(dst).get(dstRow).i32Add().set(dst);
  });
  f.get(accumulate).if();
  rowLoop(true);
  f.else();
  rowLoop(false);
  f.end();
  return f;
}

/**
 * `gateGrad(rows, d, n, ownCount, w, wRow, zOwn, zShared, zRow, dg, dgRow, dl, dlRow)`: per row, dw_j =
 * dG[r] . z[r, member j] for j < n (members ownCount experts from zOwn, then from zShared, each d
 * floats), written to dl[r, j]; then dl[r, j] = w_j (dw_j - sum_k w_k dw_k), the softmax backward.
 * dl must not overlap w, z or dG. The pointer parameters walk down the rows.
 */
function emitGateGrad(): FunctionBuilder {
  const f = new FunctionBuilder(Array<typeof i32>(13).fill(i32));
  const [rows, d, n, ownCount, w, wRow, zOwn, zShared, zRow, dg, dgRow, dl, dlRow] = f.params.map((_, i) => i);
  const col = f.local(i32);
  const r = f.local(i32);
  const j = f.local(i32);
  const zp = f.local(i32);
  const rowBytes = f.local(i32);
  const tail = f.local(f32);
  const dot = f.local(f32);
  const acc = Array.from({ length: 4 }, () => f.local(v128));
  f.get(d).i32Const(2).i32Shl().set(rowBytes);
  /** address = base + 4 j, on the stack. */
  const atJ = (base: number) => f.get(base).get(j).i32Const(2).i32Shl().i32Add();
  f.countUp(r, () => f.get(rows), 1, () => {
    f.get(zOwn).set(zp);
    f.countUp(j, () => f.get(n), 1, () => {
      f.get(j).get(ownCount).i32Eq().if().get(zShared).set(zp).end();
      for (const x of acc) f.v128ConstF32(0).set(x);
      f.f32Const(0).set(tail);
      walk(f, col, d, (s) => {
        if (s === ONE) {
          at(f, dg, col).f32Load(); at(f, zp, col).f32Load(); f.f32Mul().get(tail).f32Add().set(tail);
          return;
        }
        for (let h = 0; h < s.vecs; h++) {
          at(f, dg, col); s.load(f, h); at(f, zp, col); s.load(f, h); f.f32x4Mul().get(acc[h]).f32x4Add().set(acc[h]);
        }
      });
      // dl[r, j] = lanes of (acc0 + acc1) + (acc2 + acc3), summed, + tail.
      f.get(acc[0]).get(acc[1]).f32x4Add().get(acc[2]).get(acc[3]).f32x4Add().f32x4Add().set(acc[0]);
      atJ(dl);
      laneSum(f, acc[0]);
      f.get(tail).f32Add().f32Store();
      f.get(zp).get(rowBytes).i32Add().set(zp);
    });
    f.f32Const(0).set(dot);
    f.countUp(j, () => f.get(n), 1, () => {
      atJ(w).f32Load(); atJ(dl).f32Load(); f.f32Mul().get(dot).f32Add().set(dot);
    });
    f.countUp(j, () => f.get(n), 1, () => {
      atJ(dl); atJ(w).f32Load(); atJ(dl).f32Load(); f.get(dot).f32Sub().f32Mul().f32Store();
    });
    for (const [p, stride] of [[w, wRow], [zOwn, zRow], [zShared, zRow], [dg, dgRow], [dl, dlRow]]) f.get(p).get(stride).i32Add().set(p);
  });
  return f;
}

/** New v128 locals holding these f32 scalars, passed as i32 parameters holding their bits (a pool call's arguments are i32s), in all four lanes. */
function splats(f: FunctionBuilder, scalars: readonly number[]): number[] {
  return scalars.map((s) => {
    const l = f.local(v128);
    f.get(s).f32ReinterpretI32().f32x4Splat().set(l);
    return l;
  });
}

/**
 * `adam(count, params, grads, m1, m2, scale, beta1, omb1, beta2, omb2, stepSize, invBc2, eps, gwd, lrwd)`:
 * per element, p -= lrwd p (AdamW's decoupled decay), g = grad scale + gwd p (Adam's L2 decay),
 * m1 = beta1 m1 + omb1 g, m2 = beta2 m2 + omb2 g g, p -= stepSize m1 / (sqrt(m2 invBc2) + eps): Adam's
 * lr (m1 / bc1) / (sqrt(m2 / bc2) + eps) with stepSize = lr / bc1 and invBc2 = 1 / bc2 taken on the
 * host in float64 (one division and one square root per element instead of three divisions). The
 * scalars from scale on are f32s passed as their bits (splats).
 */
function emitAdam(): FunctionBuilder {
  const f = new FunctionBuilder(Array<typeof i32>(15).fill(i32));
  const [count, params, grads, m1, m2, ...scalars] = f.params.map((_, i) => i);
  const [scale, beta1, omb1, beta2, omb2, stepSize, invBc2, eps, gwd, lrwd] = splats(f, scalars);
  const col = f.local(i32);
  const p = f.local(v128);
  const g = f.local(v128);
  const a = f.local(v128);
  const b = f.local(v128);
  walk(f, col, count, (s) => {
    for (let h = 0; h < s.vecs; h++) {
      at(f, params, col); s.load(f, h); f.set(p);
      at(f, grads, col); s.load(f, h); f.get(scale).f32x4Mul().get(gwd).get(p).f32x4Mul().f32x4Add().set(g);
      f.get(p).get(lrwd).get(p).f32x4Mul().f32x4Sub().set(p);
      f.get(beta1); at(f, m1, col); s.load(f, h); f.f32x4Mul().get(omb1).get(g).f32x4Mul().f32x4Add().set(a);
      f.get(beta2); at(f, m2, col); s.load(f, h); f.f32x4Mul().get(omb2).get(g).f32x4Mul().get(g).f32x4Mul().f32x4Add().set(b);
      at(f, m1, col).get(a); s.store(f, h);
      at(f, m2, col).get(b); s.store(f, h);
      at(f, params, col).get(p);
      f.get(stepSize).get(a).f32x4Mul();
      f.get(b).get(invBc2).f32x4Mul().f32x4Sqrt().get(eps).f32x4Add().f32x4Div();
      f.f32x4Sub(); s.store(f, h);
    }
  });
  return f;
}

/** `sgd(count, params, grads, m1, scale, momentum, lr, wd)`: g = grad scale + wd p, m1 = momentum m1 + g, p -= lr m1 (the scalars as f32 bits). */
function emitSgd(): FunctionBuilder {
  const f = new FunctionBuilder(Array<typeof i32>(8).fill(i32));
  const [count, params, grads, m1, ...scalars] = f.params.map((_, i) => i);
  const [scale, momentum, lr, wd] = splats(f, scalars);
  const col = f.local(i32);
  const p = f.local(v128);
  const v = f.local(v128);
  walk(f, col, count, (s) => {
    for (let h = 0; h < s.vecs; h++) {
      at(f, params, col); s.load(f, h); f.set(p);
      f.get(momentum); at(f, m1, col); s.load(f, h); f.f32x4Mul();
      at(f, grads, col); s.load(f, h); f.get(scale).f32x4Mul().get(wd).get(p).f32x4Mul().f32x4Add();
      f.f32x4Add().set(v);
      at(f, m1, col).get(v); s.store(f, h);
      at(f, params, col).get(p).get(lr).get(v).f32x4Mul().f32x4Sub(); s.store(f, h);
    }
  });
  return f;
}

const EXP_MIN = -87.3;
const EXP_MAX = 88.3;
const EXP_POLY = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

/** exp's locals (expVector): the clamped input, n, r and the polynomial, and the exponent bias 127 in every lane (set once). */
function expLocals(f: FunctionBuilder) {
  const t = { v: f.local(v128), n: f.local(v128), r: f.local(v128), p: f.local(v128), bias: f.local(v128) };
  f.i32Const(127).i32x4Splat().set(t.bias);
  return t;
}

/**
 * exp of each lane of the f32x4 on the stack, left on the stack, in f32 (Cephes' expf: x = n ln2 + r
 * with n = round(x / ln2), a degree-6 polynomial for exp(r), times 2^n built in the exponent bits;
 * within about 2 ulp). x is clamped to [EXP_MIN, EXP_MAX] so 2^n stays a normal float: exp of
 * anything below EXP_MIN comes out about 1e-38 instead of smaller.
 */
function expVector(f: FunctionBuilder, t: ReturnType<typeof expLocals>): void {
  f.v128ConstF32(EXP_MIN).f32x4Max().v128ConstF32(EXP_MAX).f32x4Min().set(t.v);
  f.get(t.v).v128ConstF32(Math.LOG2E).f32x4Mul().f32x4Nearest().set(t.n);
  // r = x - n ln2, ln2 split in two (0.693359375 is exact in f32).
  f.get(t.v).get(t.n).v128ConstF32(0.693359375).f32x4Mul().f32x4Sub().get(t.n).v128ConstF32(-2.12194440e-4).f32x4Mul().f32x4Sub().set(t.r);
  f.v128ConstF32(EXP_POLY[0]).set(t.p);
  for (const c of EXP_POLY.slice(1)) f.get(t.p).get(t.r).f32x4Mul().v128ConstF32(c).f32x4Add().set(t.p);
  // exp(r) = p r^2 + r + 1, then times 2^n = bits (n + 127) << 23.
  f.get(t.p).get(t.r).f32x4Mul().get(t.r).f32x4Mul().get(t.r).f32x4Add().v128ConstF32(1).f32x4Add();
  f.get(t.n).i32x4TruncSatF32x4S().get(t.bias).i32x4Add().i32Const(23).i32x4Shl().f32x4Mul();
}

/**
 * `softmaxRows(rows, n, x, out, outRow)`: the softmax of each row of a contiguous rows x n matrix x
 * (overwritten with the exps) into out (row stride outRow bytes): the row's max subtracted, exp,
 * each divided by the row's sum, the sum taken over j in order. Four rows at a time, one per lane
 * (each value loaded into its row's lane), so each lane does a row's scalar arithmetic in that
 * order; a last group of fewer rows repeats its last row in the spare lanes, which then compute and
 * write the same values to the same places.
 */
function emitSoftmaxRows(): FunctionBuilder {
  const f = new FunctionBuilder([i32, i32, i32, i32, i32]);
  const [rows, n, x, out, outRow] = f.params.map((_, i) => i);
  const g = f.local(i32);
  const j = f.local(i32);
  const rowBytes = f.local(i32);
  const lanes = f.local(i32);
  const xs = Array.from({ length: 4 }, () => f.local(i32));
  const os = Array.from({ length: 4 }, () => f.local(i32));
  const max = f.local(v128);
  const sum = f.local(v128);
  const v = f.local(v128);
  const t = expLocals(f);
  f.get(n).i32Const(2).i32Shl().set(rowBytes);
  /** The f32s at each lane's base + 4j (j: the column), one per lane, as a vector on the stack. */
  const load = (base: number[]) => loadLanes(f, v, (l) => f.get(base[l]).get(j).i32Const(2).i32Shl().i32Add());
  /** Lane l of `value` to base[l] + 4j. */
  const store = (base: number[], value: number) => {
    for (let l = 0; l < 4; l++) f.get(base[l]).get(j).i32Const(2).i32Shl().i32Add().get(value).v128Store32Lane(l);
  };
  f.countUp(g, () => f.get(rows), 4, () => {
    groupLanes(f, g, rows, lanes);
    for (let l = 0; l < 4; l++) {
      f.get(x); laneRow(f, l, lanes); f.get(rowBytes).i32Mul().i32Add().set(xs[l]);
      f.get(out); laneRow(f, l, lanes); f.get(outRow).i32Mul().i32Add().set(os[l]);
    }
    f.v128ConstF32(-Infinity).set(max);
    f.countUp(j, () => f.get(n), 1, () => { f.get(max); load(xs); f.f32x4Max().set(max); });
    f.v128ConstF32(0).set(sum);
    f.countUp(j, () => f.get(n), 1, () => {
      load(xs); f.get(max).f32x4Sub(); expVector(f, t); f.set(v);
      store(xs, v);
      f.get(v).get(sum).f32x4Add().set(sum);
    });
    f.countUp(j, () => f.get(n), 1, () => { load(xs); f.get(sum).f32x4Div().set(v); store(os, v); });
    f.get(x).get(rowBytes).i32Const(2).i32Shl().i32Add().set(x);
    f.get(out).get(outRow).i32Const(2).i32Shl().i32Add().set(out);
  });
  return f;
}

/** 1 / (2k + 1) for k = 7 down to 1: log1p's series in s^2 (emitTaskLossRows). */
const ATANH_SERIES = [1 / 15, 1 / 13, 1 / 11, 1 / 9, 1 / 7, 1 / 5, 1 / 3];

/**
 * `taskLossRows(kind, rows, logits, labels, labelRow, mask, maskRow, dLogits, partial)`: for each of
 * `rows` samples r (logits contiguous; labels and mask each a float every labelRow / maskRow bytes),
 * with m = mask[r] > 0: dLogits[r] = m ? loss'(z, y) : +0, unscaled; at `partial` (8-byte aligned)
 * two f64s, the sum of the labelled samples' losses and their count (shaders/task_loss.wgsl's sums,
 * for these rows). kind 0, cross-entropy on the logit: loss = max(z, 0) - z y + log1p(e) with
 * e = exp(-|z|), loss' = sigmoid(z) - y = (z >= 0 ? (1 - y) - q : q - y) with q = e / (1 + e)
 * (accurate where a confident prediction is right, unlike 1 / (1 + e) - y); log1p(e) = 2 atanh(s) with
 * s = e / (2 + e) <= 1/3, its series to s^15 (within a few ulp, also where e is tiny). kind 1,
 * squared error: loss = (z - y)^2, loss' = 2 (z - y). In f32, four samples at a time, one per lane;
 * a last group of fewer repeats its last sample in the spare lanes, which store the same gradient
 * to the same place and add nothing to the sums. A masked sample's label is never used (it may be NaN).
 */
function emitTaskLossRows(): FunctionBuilder {
  const f = new FunctionBuilder(Array<typeof i32>(9).fill(i32));
  const [kind, rows, logits, labels, labelRow, mask, maskRow, dLogits, partial] = f.params.map((_, i) => i);
  const g = f.local(i32);
  const lanes = f.local(i32);
  const zs = Array.from({ length: 4 }, () => f.local(i32));
  const ys = Array.from({ length: 4 }, () => f.local(i32));
  const ms = Array.from({ length: 4 }, () => f.local(i32));
  const ds = Array.from({ length: 4 }, () => f.local(i32));
  const [z, y, e, s, p, loss, grad, labelled, counted, v] = Array.from({ length: 10 }, () => f.local(v128));
  const [sumLow, sumHigh, count] = Array.from({ length: 3 }, () => f.local(v128));
  const t = expLocals(f);
  /** The f32s at each lane's address, as a vector on the stack. */
  const load = (at: number[]) => loadLanes(f, v, (l) => f.get(at[l]));
  f.countUp(g, () => f.get(rows), 4, () => {
    groupLanes(f, g, rows, lanes);
    for (let l = 0; l < 4; l++) {
      // Lane l's sample, g + min(l, lanes - 1).
      const row = () => {
        f.get(g);
        laneRow(f, l, lanes);
        f.i32Add();
      };
      f.get(logits); row(); f.i32Const(2).i32Shl().i32Add().set(zs[l]);
      f.get(dLogits); row(); f.i32Const(2).i32Shl().i32Add().set(ds[l]);
      f.get(labels); row(); f.get(labelRow).i32Mul().i32Add().set(ys[l]);
      f.get(mask); row(); f.get(maskRow).i32Mul().i32Add().set(ms[l]);
    }
    load(zs); f.set(z);
    load(ys); f.set(y);
    load(ms); f.v128ConstF32(0).f32x4Gt().set(labelled);
    // The sums count only the labelled samples of this group's own lanes.
    f.get(lanes).f32ConvertI32S().f32x4Splat().v128ConstF32x4([0, 1, 2, 3]).f32x4Gt().get(labelled).v128And().set(counted);
    f.get(kind).i32Eqz().if();
    {
      f.get(z).f32x4Abs().v128ConstF32(-1).f32x4Mul(); expVector(f, t); f.set(e);
      f.get(e).v128ConstF32(2).get(e).f32x4Add().f32x4Div().set(s);
      f.get(s).get(s).f32x4Mul().set(v);
      f.v128ConstF32(ATANH_SERIES[0]).set(p);
      for (const c of ATANH_SERIES.slice(1)) f.get(p).get(v).f32x4Mul().v128ConstF32(c).f32x4Add().set(p);
      f.get(p).get(v).f32x4Mul().v128ConstF32(1).f32x4Add().get(s).f32x4Mul().v128ConstF32(2).f32x4Mul().set(p);
      f.get(z).v128ConstF32(0).f32x4Max().get(z).get(y).f32x4Mul().f32x4Sub().get(p).f32x4Add().set(loss);
      // q = e / (1 + e): sigmoid(z) - y is (1 - y) - q for z >= 0 and q - y below, with no cancellation where a confident prediction is right.
      f.get(e).v128ConstF32(1).get(e).f32x4Add().f32x4Div().set(v);
      f.v128ConstF32(1).get(y).f32x4Sub().get(v).f32x4Sub();
      f.get(v).get(y).f32x4Sub();
      f.get(z).v128ConstF32(0).f32x4Ge().v128Bitselect().set(grad);
    }
    f.else();
    {
      f.get(z).get(y).f32x4Sub().set(v);
      f.get(v).get(v).f32x4Mul().set(loss);
      f.get(v).v128ConstF32(2).f32x4Mul().set(grad);
    }
    f.end();
    f.get(grad).get(labelled).v128And().set(grad);
    for (let l = 0; l < 4; l++) f.get(ds[l]).get(grad).v128Store32Lane(l);
    f.get(loss).get(counted).v128And().set(loss);
    f.get(loss).f64x2PromoteLowF32x4().get(sumLow).f64x2Add().set(sumLow);
    f.get(loss).get(loss).i8x16Shuffle(HIGH_HALF).f64x2PromoteLowF32x4().get(sumHigh).f64x2Add().set(sumHigh);
    f.get(counted).v128ConstF32(1).v128And().get(count).f32x4Add().set(count);
  });
  f.get(sumLow).get(sumHigh).f64x2Add().set(sumLow);
  f.get(partial).get(sumLow).f64x2ExtractLane(0).get(sumLow).f64x2ExtractLane(1).f64Add().f64Store();
  // The count's lanes are whole numbers below 2^24: exact in f32.
  f.get(partial);
  laneSum(f, count);
  f.f64PromoteF32().f64Store(8);
  return f;
}

/**
 * `sumSquares(count, x, out)`: sum_i x[i]^2 in float64 (each f32 promoted exactly, so every square
 * is exact), over eight f64x2 partial sums and a scalar one for the last floats, stored as an f64 at
 * out.
 */
function emitSumSquares(): FunctionBuilder {
  const f = new FunctionBuilder([i32, i32, i32]);
  const [count, x, out] = f.params.map((_, i) => i);
  const col = f.local(i32);
  const v = f.local(v128);
  const sq = f.local(v128);
  const one = f.local(f64);
  const tail = f.local(f64);
  const acc = Array.from({ length: 8 }, () => f.local(v128));
  walk(f, col, count, (s) => {
    if (s === ONE) {
      at(f, x, col).f32Load(); f.f64PromoteF32().set(one);
      f.get(one).get(one).f64Mul().get(tail).f64Add().set(tail);
      return;
    }
    for (let h = 0; h < s.vecs; h++) {
      at(f, x, col); s.load(f, h); f.set(v);
      for (const half of [0, 1]) {
        const a = acc[2 * h + half];
        f.get(v);
        if (half === 1) f.get(v).i8x16Shuffle(HIGH_HALF);
        f.f64x2PromoteLowF32x4().set(sq);
        f.get(sq).get(sq).f64x2Mul().get(a).f64x2Add().set(a);
      }
    }
  });
  // The partial sums pairwise, then their two lanes, plus the tail.
  for (let width = 4; width >= 1; width /= 2) for (let i = 0; i < width; i++) f.get(acc[i]).get(acc[i + width]).f64x2Add().set(acc[i]);
  f.get(out).get(acc[0]).f64x2ExtractLane(0).get(acc[0]).f64x2ExtractLane(1).f64Add().get(tail).f64Add().f64Store();
  return f;
}

/**
 * `finiteSum(count, x) -> f32`: sum_i x[i] * 0 in four lanes: 0 when every x[i] is finite, NaN when
 * one is not (the staged batch's check).
 */
function emitFiniteSum(): FunctionBuilder {
  const f = new FunctionBuilder([i32, i32], [f32]);
  const [count, x] = f.params.map((_, i) => i);
  const col = f.local(i32);
  const acc = Array.from({ length: 4 }, () => f.local(v128));
  walk(f, col, count, (s) => {
    for (let h = 0; h < s.vecs; h++) {
      at(f, x, col); s.load(f, h); f.v128ConstF32(0).f32x4Mul().get(acc[h]).f32x4Add().set(acc[h]);
    }
  });
  f.get(acc[0]).get(acc[1]).f32x4Add().get(acc[2]).get(acc[3]).f32x4Add().f32x4Add().set(acc[0]);
  laneSum(f, acc[0]);
  return f;
}

/** The module's exports, in this order. */
const KERNELS = [
  { name: 'biasAct', fn: emitBiasAct },
  ...Array.from({ length: MAX_TERMS }, (_, t) => ({ name: `sumRows${t + 1}`, fn: () => emitSumRows(t + 1) })),
  { name: 'mixRows', fn: emitMixRows },
  { name: 'gateGrad', fn: emitGateGrad },
  { name: 'adam', fn: emitAdam },
  { name: 'sgd', fn: emitSgd },
  { name: 'softmaxRows', fn: emitSoftmaxRows },
  { name: 'taskLossRows', fn: emitTaskLossRows },
  { name: 'sumSquares', fn: emitSumSquares },
  { name: 'finiteSum', fn: emitFiniteSum },
];

/** The kernels' module, compiled once per process for each kind of memory (shared: worker threads). */
export const elementwiseModule = moduleCompiler(() => KERNELS.map(({ name, fn }) => ({ name, fn: fn() })));

/** One call of an exported kernel: its name and its i32 arguments (byte addresses and strides, counts, f32 scalars as their bits). */
interface Job {
  fn: string;
  args: number[];
  /** The thread whose part of the dispatch the call is in (src/cpu/pool.ts run): the same rows, columns or elements op after op. */
  part: number;
}

/**
 * An op prepared for its entries and heap offsets: its calls are worked out once, and each call
 * runs the op again (the CPU engine prepares every op of a step when it is created).
 */
export type CpuRun = () => void;

/** The runs, one after the other, as one run. */
export function sequence(runs: readonly CpuRun[]): CpuRun {
  return () => {
    for (const run of runs) run();
  };
}

/**
 * Rows per block on one thread where an op's entries run block by block (the forward mixture and
 * the gate-logit gradient): every entry on rows [0, ROW_BLOCK), then every entry on the next rows,
 * so the experts' outputs that several gates mix are read again from cache rather than from memory.
 * (Measured on bench-small at batch 2048, where a level's expert outputs outgrow the core's cache:
 * blocks of 32 to 512 rows alike, all faster than none; at batch 512 blocks gained or lost within
 * the noise. The expert gradient, whose entries share less, was not faster blocked.)
 */
const ROW_BLOCK = 256;
/** Calls an op is cut into per thread (at most): enough that threads finishing early find more. */
const BLOCKS_PER_THREAD = 4;
/**
 * Floats per partial sum of sumSquares (a multiple of SPLIT_FLOATS), at least: the sum splits over
 * threads by these chunks, whatever their number. A longer array takes longer chunks, at most
 * MAX_NORM_CHUNKS of them, so that the optimizer's calls (two a chunk) fit one pool dispatch.
 */
const NORM_CHUNK = 8192;
const MAX_NORM_CHUNKS = 256;
/** Floats per chunk of sumSquares over `count` floats (it depends on the count alone). */
function normChunkFloats(count: number): number {
  return Math.max(NORM_CHUNK, Math.ceil(count / MAX_NORM_CHUNKS / SPLIT_FLOATS) * SPLIT_FLOATS);
}
/** How many chunks sumSquares cuts `count` floats into. */
function normChunkCount(count: number): number {
  return Math.ceil(count / normChunkFloats(count));
}
/** Floats of the partial sums CpuElementwise.sumSquares keeps for `count` floats. */
export function sumSquaresFloats(count: number): number {
  return 2 * Math.max(1, normChunkCount(count));
}
/** sumSquares' chunks of `count` floats, as [from, count]. */
function normChunks(count: number): [number, number][] {
  return ranges(count, normChunkCount(count), normChunkFloats(count));
}
/** The sumSquares call of chunk `index` ([from, from + n) of x) into its f64 of `partials`. */
function squaresJob(x: number, partials: number, from: number, n: number, index: number, part: number): Job {
  return { fn: 'sumSquares', args: [n, 4 * (x + from), 4 * (partials + 2 * index)], part };
}
/** Samples per taskLossRows call: a task's loss is summed in these fixed blocks (thread counts do not move them), then the blocks' sums in order. */
const LOSS_BLOCK = 256;
/** Floats of the partial sums CpuElementwise.taskLosses keeps for these entries (two f64s a block). */
export function taskLossFloats(entries: readonly { rows: number }[]): number {
  return entries.reduce((n, e) => n + 4 * Math.ceil(e.rows / LOSS_BLOCK), 0);
}
/**
 * The work of a sample of the task losses, in floats' worth of the other element-wise ops (for
 * threadsFor): its exp, the log1p series and two divisions cost some 40 operations a lane.
 */
const LOSS_FLOATS_PER_SAMPLE = 20;
/** Column and element ranges split at multiples of this many floats (the kernels' 16-float step, a 64-byte cache line). */
const SPLIT_FLOATS = 16;
/**
 * The work of a float an element-wise kernel reads or writes, in FLOPs of the GEMM's: an op splits
 * over as many threads as get the GEMM's minFlopsPerThread of it each (threadsForWork). These
 * kernels stream memory, and two threads share its bandwidth.
 */
const FLOPS_PER_FLOAT = 2;

/** One softmax operand of CpuElementwise.softmaxRows: rows x n logits (contiguous, heap element offset) and where the rows of their softmax go. */
export interface SoftmaxMatrix {
  rows: number;
  n: number;
  logits: number;
  out: number;
  outRow: number;
}

/** One optimizer update's scalars, as src/cpu/kernels.ts derives them from the step. */
export interface OptimizerScalars {
  optimizer: ResolvedOptimizer;
  /** 1-based step number. */
  t: number;
  lr: number;
  /** Every gradient's factor (the loss scale times the clip scale). */
  scale: number;
  /** Weight decay applies to params [0, decayEnd) only. */
  decayEnd: number;
}

/** Float bits, for the kernels' f32 scalars. */
const scalarF32 = new Float32Array(1);
const scalarBits = new Int32Array(scalarF32.buffer);
const bits = (x: number) => ((scalarF32[0] = x), scalarBits[0]);

/** [from, count] ranges covering [0, total) in order, each a multiple of `unit` long (the last one the rest), at most `parts` of them. */
function ranges(total: number, parts: number, unit: number): [number, number][] {
  const size = Math.max(unit, Math.ceil(total / parts / unit) * unit);
  const out: [number, number][] = [];
  for (let from = 0; from < total; from += size) out.push([from, Math.min(size, total - from)]);
  return out;
}

/**
 * The kernels instantiated on one heap's memory; offsets passed in are heap element offsets. The
 * op methods return the op's {@link CpuRun}, prepared for those entries and offsets: call it to run
 * the op, as often as needed. The optimizer, whose scalars change every step, runs when called.
 *
 * With a pool (src/cpu/pool.ts, holding elementwiseModule(true)) the ops split into calls over
 * disjoint outputs that its threads claim: the mixture, gate and expert gradients and the softmax by
 * rows, bias_act_backward by columns (each column's db still summed over the rows in order), the
 * optimizer and grad_norm's sum of squares by element ranges, the task losses by blocks of
 * samples. Thread t's part of each op is its t-th run of the largest entry's rows (pool.ts partOf),
 * about the rows of each entry the GEMM gives it too, so a thread mostly reads rows it wrote;
 * bias_act_backward's part t is each entry's t-th column range, the optimizer's the t-th run of
 * elements. Every output float is computed by one call in the same order as on one thread, so the
 * results are bit for bit the 1-thread ones. grad_norm's float64 sum adds partial sums of fixed
 * chunks (normChunkFloats, whatever the threads) in order, and each task's loss those of fixed
 * blocks (LOSS_BLOCK), so they are the same on any number of threads too.
 */
export class CpuElementwise {
  private readonly threads: number;
  /** The kernels' function indices in the pool. */
  private readonly poolIndex: Record<string, number> | undefined;

  private constructor(
    private readonly heap: CpuHeap,
    private readonly fns: Record<string, (...args: number[]) => number>,
    private readonly pool: CpuThreadPool | undefined,
    module: WebAssembly.Module,
    private readonly minFlopsPerThread: number,
  ) {
    this.threads = pool?.threads ?? 1;
    this.poolIndex = pool && Object.fromEntries(KERNELS.map(({ name }) => [name, pool.functionIndex(module, name)]));
  }

  /**
   * Compiles (once per process) and instantiates the module on the heap's memory. With a pool (on
   * the heap's shared memory, holding elementwiseModule(true)) an op whose work (FLOPS_PER_FLOAT per
   * float it reads or writes) reaches 2 minFlopsPerThread splits over as many threads as get
   * minFlopsPerThread each (default: the GEMM's; 0 splits every op over all, as the tests do).
   */
  static async create(heap: CpuHeap, { pool, minFlopsPerThread = MIN_FLOPS_PER_THREAD }: { pool?: CpuThreadPool; minFlopsPerThread?: number } = {}): Promise<CpuElementwise> {
    if (pool && !heap.shared) throw new Error('element-wise kernels on several threads need a shared CPU heap');
    const module = await elementwiseModule(heap.shared);
    const instance = await WebAssembly.instantiate(module, { env: { memory: heap.memory } });
    return new CpuElementwise(heap, instance.exports as unknown as Record<string, (...args: number[]) => number>, pool, module, minFlopsPerThread);
  }

  /** bias_act_backward: each entry's dY masked by ReLU (where !(Y > 0)) and db = column sums of dY; split by columns. */
  biasActBackward(entries: readonly BiasActEntry[], dY: number, y: number, db: number): CpuRun {
    const threads = this.threadsFor(entries.reduce((s, e) => s + e.rows * e.cols * (e.relu ? 3 : 1), 0));
    const jobs: Job[] = [];
    for (const e of entries) {
      const flags = (e.relu ? FLAG_RELU : 0) | (e.dbOff !== undefined ? FLAG_DB : 0);
      if (flags === 0) continue;
      const [dyAt, yAt, dbAt] = [dY + e.dyOff, y + e.yOff, db + (e.dbOff ?? 0)];
      // One column range per thread: each call walks every row, so narrower ranges would read less of each cache line fetched.
      ranges(e.cols, threads, SPLIT_FLOATS).forEach(([c, cols], part) => {
        jobs.push({ fn: 'biasAct', args: [e.rows, cols, 4 * (dyAt + c), 4 * e.dyRow, 4 * (yAt + c), 4 * e.yRow, 4 * (dbAt + c), flags], part });
      });
    }
    return this.prepare([jobs], threads);
  }

  /** The mixture op: out[r] = sum_j gateW[r, j] z[r, member j] for each entry, the members added in order; split by rows. */
  mixtures(entries: readonly MixtureEntry[], gateW: number, z: number, out: number): CpuRun {
    const threads = this.threadsFor(entries.reduce((s, e) => s + e.rows * (e.d * (e.n + 1) + e.n), 0));
    return this.prepare([this.rowBlocks(entries, threads, ROW_BLOCK).map(([e, from, count, part]) => this.mixJob(e, gateW, z, out, from, count, part))], threads);
  }

  /** mixture, rows [from, from + count) of one entry, on this thread. */
  mixture(e: MixtureEntry, gateW: number, z: number, out: number, from = 0, count = e.rows): CpuRun {
    return this.prepare([[this.mixJob(e, gateW, z, out, from, count, 0)]], 1);
  }

  /** The mixture_gate_grad op (see gateGrad) for each entry; split by rows. */
  gateGrads(entries: readonly GateGradEntry[], gateW: number, z: number, dG: number, dLogit: number): CpuRun {
    const threads = this.threadsFor(entries.reduce((s, e) => s + e.rows * (e.d * (e.n + 1) + 2 * e.n), 0));
    return this.prepare([this.rowBlocks(entries, threads, ROW_BLOCK).map(([e, from, count, part]) => this.gateGradJob(e, gateW, z, dG, dLogit, from, count, part))], threads);
  }

  /**
   * mixture_gate_grad, rows [from, from + count) of one entry, on this thread: per row, dw_j =
   * dG[r] . z[r, member j] (written to dLogit), then dLogit[r, j] = w_j (dw_j - sum_k w_k dw_k), all
   * in WASM. dLogit must not overlap gateW, z or dG.
   */
  gateGrad(e: GateGradEntry, gateW: number, z: number, dG: number, dLogit: number, from = 0, count = e.rows): CpuRun {
    return this.prepare([[this.gateGradJob(e, gateW, z, dG, dLogit, from, count, 0)]], 1);
  }

  /**
   * mixture_expert_grad: dZ[r] = sum over the gates mixing this expert of gateW[r, wCol] dG[r], the
   * members added in order, one pass per row of dZ per MAX_TERMS members (more take further calls
   * that accumulate: a wave of calls each, run one after the other); split by rows.
   */
  expertGrads(entries: readonly ExpertGradEntry[], gateW: number, dG: number, dZ: number): CpuRun {
    const threads = this.threadsFor(entries.reduce((s, e) => s + e.rows * e.d * (e.members.length + 1), 0));
    const waves: Job[][] = [];
    const f = this.heap.f32;
    // An expert no gate mixes gets a zero gradient.
    const unmixed = entries.filter((e) => e.members.length === 0);
    const zero = () => {
      for (const e of unmixed) {
        const dst = dZ + e.dzOff;
        for (let r = 0; r < e.rows; r++) f.fill(0, dst + r * e.dzRow, dst + r * e.dzRow + e.d);
      }
    };
    // On one thread each entry runs whole (blocks did not help it); on several, in row blocks.
    for (const [e, from, count, part] of this.rowBlocks(entries, threads, threads === 1 ? Infinity : ROW_BLOCK)) {
      const g = gateW + e.wOff + from * e.wRow;
      for (let first = 0, wave = 0; first < e.members.length; first += MAX_TERMS, wave++) {
        const terms = e.members.slice(first, first + MAX_TERMS);
        (waves[wave] ??= []).push({
          fn: `sumRows${terms.length}`,
          args: [
            count, e.d, 4 * e.wRow, 4 * e.dgRow, 4 * (dZ + e.dzOff + from * e.dzRow), 4 * e.dzRow, first > 0 ? 1 : 0,
            ...terms.map((m) => 4 * (g + m.wCol)), ...terms.map((m) => 4 * (dG + m.dgOff + from * e.dgRow)),
          ],
          part,
        });
      }
    }
    const run = this.prepare(waves, threads);
    return unmixed.length === 0 ? run : sequence([zero, run]);
  }

  /**
   * sum_i x[i]^2 over `count` floats from x, in float64 (grad_norm's), prepared: each chunk of
   * normChunkFloats(count) floats is summed into an f64 of `partials` (sumSquaresFloats(count)
   * floats, 8-byte aligned), the chunks split over the threads; squaresTotal adds them up. The
   * chunks do not depend on the threads, so neither does the sum.
   */
  sumSquares(count: number, x: number, partials: number): CpuRun {
    // Three operations per float (promote, square, add), each float read once.
    const threads = this.threadsFor(3 * count);
    return this.prepare([normChunks(count).map(([from, n], i) => squaresJob(x, partials, from, n, i, partOf(from, count, threads)))], threads);
  }

  /** Whether the `count` floats from x are all finite (on this thread). */
  allFinite(count: number, x: number): boolean {
    return this.fns.finiteSum(count, 4 * x) === 0;
  }

  /** The float64 total of the partial sums of `count` floats that sumSquares (or optimizer) left at `partials`, added in order. */
  squaresTotal(count: number, partials: number): number {
    if (partials % 2 !== 0) throw new Error(`the partial sums' offset ${partials} is not 8-byte aligned`);
    const sums = new Float64Array(this.heap.f32.buffer, 4 * partials, normChunkCount(count));
    return sums.reduce((a, v) => a + v, 0);
  }

  /**
   * The optimizer update of `count` params (shaders/optimizer.wgsl's rules), run now (its scalars
   * change every step); split by sumSquares' chunks of elements. With `partials`, each chunk's
   * gradients are also summed as sumSquares(count, grads, partials) sums them, just before their
   * update, while they are in cache (grad_norm's sum when nothing reads the norm before the update).
   */
  optimizer(s: OptimizerScalars, count: number, params: number, grads: number, m1: number, m2: number, partials?: number): void {
    const { optimizer: o, lr } = s;
    const threads = this.threadsFor(count * (o.kind === 'sgd' ? 5 : 7) + (partials === undefined ? 0 : 3 * count));
    const decayEnd = Math.max(0, Math.min(count, s.decayEnd));
    const adam = o.kind === 'adam';
    const scalars = (wd: number) =>
      (o.kind === 'sgd'
        ? [s.scale, o.momentum, lr, wd]
        : [s.scale, o.beta1, 1 - o.beta1, o.beta2, 1 - o.beta2, lr / (1 - Math.pow(o.beta1, s.t)), 1 / (1 - Math.pow(o.beta2, s.t)), o.eps, adam ? wd : 0, adam ? 0 : lr * wd]
      ).map(bits);
    const decayed = scalars(o.weightDecay);
    const plain = scalars(0);
    // Update calls of at most `block` elements: on several threads, BLOCKS_PER_THREAD a thread at least.
    const chunk = normChunkFloats(count);
    const block = threads === 1 ? chunk : Math.min(chunk, ranges(count, threads * BLOCKS_PER_THREAD, SPLIT_FLOATS)[0]?.[1] ?? chunk);
    const jobs: Job[] = [];
    normChunks(count).forEach(([first, n], i) => {
      if (partials !== undefined) jobs.push(squaresJob(grads, partials, first, n, i, partOf(first, count, threads)));
      for (let from = first; from < first + n; from += block) {
        const to = Math.min(from + block, first + n);
        // The block's params before decayEnd (decayed), then those after it.
        for (const [start, end, args] of [[from, Math.min(to, decayEnd), decayed], [Math.max(from, decayEnd), to, plain]] as const) {
          if (end <= start) continue;
          const at = (buffer: number) => 4 * (buffer + start);
          const buffers = o.kind === 'sgd' ? [at(params), at(grads), at(m1)] : [at(params), at(grads), at(m1), at(m2)];
          jobs.push({ fn: o.kind === 'sgd' ? 'sgd' : 'adam', args: [end - start, ...buffers, ...args], part: partOf(start, count, threads) });
        }
      }
    });
    this.prepare([jobs], threads)();
  }

  /**
   * The softmax of each row of each rows x n matrix of logits (contiguous, overwritten) into its out
   * (row stride outRow): subtract the row's max, exp, divide by the row's sum; in WASM, four rows at
   * a time, one call per block of rows, every matrix's in one dispatch; split by rows.
   */
  softmaxRows(matrices: readonly SoftmaxMatrix[]): CpuRun {
    const threads = this.threadsFor(matrices.reduce((s, m) => s + m.rows * m.n * 5, 0));
    // Blocks of whole groups of four rows (the kernel's), but for a matrix's last block.
    const jobs = matrices.flatMap((m) =>
      ranges(m.rows, threads === 1 ? 1 : threads * BLOCKS_PER_THREAD, 4).map(([from, count]): Job => ({
        fn: 'softmaxRows',
        args: [count, m.n, 4 * (m.logits + from * m.n), 4 * (m.out + from * m.outRow), 4 * m.outRow],
        part: partOf(from, m.rows, threads),
      })),
    );
    return this.prepare([jobs], threads);
  }

  /**
   * The task_loss op (shaders/task_loss.wgsl's semantics), prepared: each entry's samples in blocks
   * of LOSS_BLOCK, each block's gradients and its sums of the labelled samples' losses and count
   * (two f64s at `partials`, taskLossFloats(entries) floats, 8-byte aligned) by taskLossRows, the
   * blocks split over the threads; then, here, each task's sums added block by block in order,
   * its mean loss and count written to out, and its gradients scaled by weight / count. Heap
   * element offsets of the op's buffers; the entries' offsets are into them.
   */
  taskLosses(entries: readonly TaskLossEntry[], weights: number, logits: number, labels: number, dLogits: number, out: number, partials: number): CpuRun {
    if (partials % 2 !== 0) throw new Error(`the task losses' partial sums' offset ${partials} is not 8-byte aligned`);
    const threads = this.threadsFor(entries.reduce((n, e) => n + e.rows * LOSS_FLOATS_PER_SAMPLE, 0));
    const jobs: Job[] = [];
    const blocks = entries.map((e) => ranges(e.rows, Math.ceil(e.rows / LOSS_BLOCK), LOSS_BLOCK));
    let slot = partials;
    entries.forEach((e, i) => {
      const kind = e.type === 'binary' ? 0 : 1;
      for (const [from, count] of blocks[i]) {
        const args = [kind, count, 4 * (logits + e.logitOff + from), 4 * (labels + e.labelOff + from * e.labelRow), 4 * e.labelRow, 4 * (labels + e.maskOff + from * e.maskRow), 4 * e.maskRow, 4 * (dLogits + e.dOff + from), 4 * slot];
        jobs.push({ fn: 'taskLossRows', args, part: partOf(from, e.rows, threads) });
        slot += 4;
      }
    });
    const rows = this.prepare([jobs], threads);
    const f = this.heap.f32;
    const sums = new Float64Array(this.heap.f32.buffer, 4 * partials, 2 * (slot - partials) / 4);
    return () => {
      rows();
      let block = 0;
      entries.forEach((e, i) => {
        let loss = 0;
        let count = 0;
        for (let b = 0; b < blocks[i].length; b++, block++) {
          loss += sums[2 * block];
          count += sums[2 * block + 1];
        }
        const scale = count > 0 ? f[weights + e.task] / count : 0;
        const d = dLogits + e.dOff;
        for (let r = 0; r < e.rows; r++) f[d + r] *= scale;
        f[out + e.outOff + 2 * e.task] = count > 0 ? loss / count : 0;
        f[out + e.outOff + 2 * e.task + 1] = count;
      });
    };
  }

  /** Threads an op of this much work (floats read or written) runs on. */
  private threadsFor(floats: number): number {
    return threadsForWork(this.threads, floats * FLOPS_PER_FLOAT, this.minFlopsPerThread);
  }

  /** The run of these waves, one after the other, each wave's calls on this thread or split over the pool's threads; the calls are bound here, once. */
  private prepare(waves: readonly Job[][], threads: number): CpuRun {
    const steps = waves.map((jobs): CpuRun => {
      if (threads === 1 || jobs.length < 2) {
        const bound = jobs.map((j) => this.fns[j.fn].bind(null, ...j.args));
        return () => {
          for (const call of bound) call();
        };
      }
      const parts = Array.from({ length: threads }, (): Call[] => []);
      for (const j of jobs) parts[j.part].push({ fn: this.poolIndex![j.fn], args: j.args });
      return () => this.pool!.run(parts);
    });
    return steps.length === 1 ? steps[0] : sequence(steps);
  }

  /**
   * Every entry's rows in blocks, as [entry, from, count, part] (rowBlock rows on one thread; on
   * several, small enough that each thread gets about BLOCKS_PER_THREAD blocks of the largest entry),
   * every entry on a block before the next block; part: the thread whose run of rows the block
   * starts in (partOf).
   */
  private rowBlocks<E extends { rows: number }>(entries: readonly E[], threads: number, rowBlock: number): [E, number, number, number][] {
    const rows = Math.max(0, ...entries.map((e) => e.rows));
    const block = threads === 1 ? rowBlock : Math.max(1, Math.min(rowBlock, Math.ceil(rows / (threads * BLOCKS_PER_THREAD))));
    const out: [E, number, number, number][] = [];
    for (let from = 0; from < rows; from += block) for (const e of entries) if (from < e.rows) out.push([e, from, Math.min(block, e.rows - from), partOf(from, rows, threads)]);
    return out;
  }

  private mixJob(e: MixtureEntry, gateW: number, z: number, out: number, from: number, count: number, part: number): Job {
    const { own, shared, operands } = mixOperands(e, gateW, z, from);
    return { fn: 'mixRows', args: [count, e.d, own.count, shared.count, ...operands, 4 * (out + e.outOff + from * e.outRow), 4 * e.outRow], part };
  }

  private gateGradJob(e: GateGradEntry, gateW: number, z: number, dG: number, dLogit: number, from: number, count: number, part: number): Job {
    const { own, operands } = mixOperands(e, gateW, z, from);
    return {
      fn: 'gateGrad',
      args: [count, e.d, e.n, own.count, ...operands, 4 * (dG + e.dgOff + from * e.dgRow), 4 * e.dgRow, 4 * (dLogit + e.dlOff + from * e.dlRow), 4 * e.dlRow],
      part,
    };
  }
}

/**
 * What mixRows and gateGrad both read from row `from` on, as their arguments (bytes): the gate's
 * weights and row stride, its own and shared members' first expert outputs and their row stride;
 * with the two runs of members.
 */
function mixOperands(e: MixtureEntry | GateGradEntry, gateW: number, z: number, from: number) {
  const [own, shared] = memberRuns(e);
  const zRow = z + e.zOff + from * e.zRow;
  return { own, shared, operands: [4 * (gateW + e.wOff + from * e.wRow), 4 * e.wRow, 4 * (zRow + own.expert * e.d), 4 * (zRow + shared.expert * e.d), 4 * e.zRow] };
}

/** A gate's members as runs of consecutive experts: gate columns [wCol, wCol + count) mix experts [expert, expert + count). */
function memberRuns(e: Pick<MixtureEntry, 'n' | 'ownStart' | 'ownCount' | 'sharedStart'>): { wCol: number; expert: number; count: number }[] {
  return [
    { wCol: 0, expert: e.ownStart, count: Math.min(e.ownCount, e.n) },
    { wCol: e.ownCount, expert: e.sharedStart, count: Math.max(0, e.n - e.ownCount) },
  ];
}
