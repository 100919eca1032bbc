/**
 * The CPU device's element-wise kernels in WebAssembly SIMD (encoder: src/cpu/wasm.ts), on the
 * floats of one CpuHeap: bias_act_backward, the three mixture kernels, the optimizer updates and
 * the gates' softmax (its exp), with the semantics of their float64 references
 * (src/reference/bias_act_backward.ts, mixture.ts, optimizer.ts, gate_softmax.ts), summing in f32
 * as the GPU does. src/cpu/kernels.ts maps the ops to these. Test: test/cpu_elementwise.test.ts.
 *
 * Every kernel walks a row's contiguous floats 16 at a time (four f32x4), then 4 at a time, then
 * one at a time (a splat load and a one-lane store), so any width works and only the entry's own
 * floats are written. Operands sit at any float offset: loads and stores carry the f32 alignment
 * hint. Addresses and strides passed to the module are in bytes.
 */
import type { ResolvedOptimizer } from '../config.js';
import type { BiasActEntry } from '../kernels/bias_act_backward.js';
import type { ExpertGradEntry, GateGradEntry, MixtureEntry } from '../kernels/mixture.js';
import type { CpuHeap } from './heap.js';
import { encodeModule, f32, FunctionBuilder, i32, v128 } from './wasm.js';

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
 * `axpyRows(rows, d, g, gRow, src, srcRow, dst, dstRow, accumulate)`: dst[r, i] = (accumulate ?
 * dst[r, i] : 0) + g[r] src[r, i], for i < d; g[r] is one float at g + r gRow.
 */
function emitAxpyRows(): FunctionBuilder {
  const f = new FunctionBuilder([i32, i32, i32, i32, i32, i32, i32, i32, i32]);
  const [rows, d, g, gRow, src, srcRow, dst, dstRow, accumulate] = f.params.map((_, i) => i);
  const col = f.local(i32);
  const r = f.local(i32);
  const sp = f.local(i32);
  const dp = f.local(i32);
  const gv = f.local(v128);
  const zero = f.local(v128);
  f.v128ConstF32(0).set(zero);
  const rowLoop = (add: boolean) => f.countUp(r, () => f.get(rows), 1, () => {
    f.get(g).get(r).get(gRow).i32Mul().i32Add().v128Load32Splat().set(gv);
    f.get(src).get(r).get(srcRow).i32Mul().i32Add().set(sp);
    f.get(dst).get(r).get(dstRow).i32Mul().i32Add().set(dp);
    walk(f, col, d, (s) => {
      for (let h = 0; h < s.vecs; h++) {
        at(f, dp, col);
        if (add) { at(f, dp, col); s.load(f, h); } else f.get(zero);
        f.get(gv); at(f, sp, col); s.load(f, h); f.f32x4Mul().f32x4Add();
        s.store(f, h);
      }
    });
  });
  f.get(accumulate).if();
  rowLoop(true);
  f.else();
  rowLoop(false);
  f.end();
  return f;
}

/** `dotRows(rows, d, a, aRow, b, bRow, out, outRow)`: out[r] = sum_i a[r, i] b[r, i], for i < d. */
function emitDotRows(): FunctionBuilder {
  const f = new FunctionBuilder([i32, i32, i32, i32, i32, i32, i32, i32]);
  const [rows, d, a, aRow, b, bRow, out, outRow] = f.params.map((_, i) => i);
  const col = f.local(i32);
  const r = f.local(i32);
  const ap = f.local(i32);
  const bp = f.local(i32);
  const tail = f.local(f32);
  const acc = Array.from({ length: 4 }, () => f.local(v128));
  f.countUp(r, () => f.get(rows), 1, () => {
    f.get(a).get(r).get(aRow).i32Mul().i32Add().set(ap);
    f.get(b).get(r).get(bRow).i32Mul().i32Add().set(bp);
    for (const x of acc) f.v128ConstF32(0).set(x);
    f.f32Const(0).set(tail);
    walk(f, col, d, (s) => {
      if (s === ONE) {
        at(f, ap, col).f32Load(); at(f, bp, col).f32Load(); f.f32Mul().get(tail).f32Add().set(tail);
        return;
      }
      for (let h = 0; h < s.vecs; h++) {
        at(f, ap, col); s.load(f, h); at(f, bp, col); s.load(f, h); f.f32x4Mul().get(acc[h]).f32x4Add().set(acc[h]);
      }
    });
    // out[r] = lanes of (acc0 + acc1) + (acc2 + acc3), summed, + tail.
    f.get(acc[0]).get(acc[1]).f32x4Add().get(acc[2]).get(acc[3]).f32x4Add().f32x4Add().set(acc[0]);
    f.get(out).get(r).get(outRow).i32Mul().i32Add();
    f.get(acc[0]).f32x4ExtractLane(0).get(acc[0]).f32x4ExtractLane(1).f32Add();
    f.get(acc[0]).f32x4ExtractLane(2).get(acc[0]).f32x4ExtractLane(3).f32Add().f32Add();
    f.get(tail).f32Add().f32Store();
  });
  return f;
}

/** New v128 locals holding these f32 locals in all four lanes. */
function splats(f: FunctionBuilder, scalars: readonly number[]): number[] {
  return scalars.map((s) => {
    const l = f.local(v128);
    f.get(s).f32x4Splat().set(l);
    return l;
  });
}

/**
 * `adam(count, params, grads, m1, m2, scale, beta1, omb1, beta2, omb2, lr, bc1, bc2, eps, gwd, lrwd)`:
 * per element, p -= lrwd p (AdamW's decoupled decay), g = grad scale + gwd p (Adam's L2 decay),
 * m1 = beta1 m1 + omb1 g, m2 = beta2 m2 + omb2 g g, p -= lr (m1 / bc1) / (sqrt(m2 / bc2) + eps).
 */
function emitAdam(): FunctionBuilder {
  const f = new FunctionBuilder([i32, i32, i32, i32, i32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32]);
  const [count, params, grads, m1, m2, ...scalars] = f.params.map((_, i) => i);
  const [scale, beta1, omb1, beta2, omb2, lr, bc1, bc2, eps, gwd, lrwd] = splats(f, scalars);
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
      f.get(lr).get(a).get(bc1).f32x4Div().f32x4Mul();
      f.get(b).get(bc2).f32x4Div().f32x4Sqrt().get(eps).f32x4Add().f32x4Div();
      f.f32x4Sub(); s.store(f, h);
    }
  });
  return f;
}

/** `sgd(count, params, grads, m1, scale, momentum, lr, wd)`: g = grad scale + wd p, m1 = momentum m1 + g, p -= lr m1. */
function emitSgd(): FunctionBuilder {
  const f = new FunctionBuilder([i32, i32, i32, i32, f32, f32, f32, f32]);
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

/**
 * `expInPlace(count, x)`: x[i] = exp(x[i]) for i < count, in f32 (Cephes' expf: x = n ln2 + r with
 * n = round(x / ln2), a degree-6 polynomial for exp(r), times 2^n built in the exponent bits; within
 * about 2 ulp). x is clamped to [EXP_MIN, EXP_MAX] so 2^n stays a normal float: exp of anything
 * below EXP_MIN comes out about 1e-38 instead of smaller.
 */
const EXP_MIN = -87.3;
const EXP_MAX = 88.3;
function emitExp(): FunctionBuilder {
  const f = new FunctionBuilder([i32, i32]);
  const [count, x] = f.params.map((_, i) => i);
  const col = f.local(i32);
  const v = f.local(v128);
  const n = f.local(v128);
  const r = f.local(v128);
  const p = f.local(v128);
  const bias = f.local(v128);
  f.i32Const(127).i32x4Splat().set(bias);
  const POLY = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
  walk(f, col, count, (s) => {
    for (let h = 0; h < s.vecs; h++) {
      at(f, x, col); s.load(f, h); f.v128ConstF32(EXP_MIN).f32x4Max().v128ConstF32(EXP_MAX).f32x4Min().set(v);
      f.get(v).v128ConstF32(Math.LOG2E).f32x4Mul().f32x4Nearest().set(n);
      // r = x - n ln2, ln2 split in two (0.693359375 is exact in f32).
      f.get(v).get(n).v128ConstF32(0.693359375).f32x4Mul().f32x4Sub().get(n).v128ConstF32(-2.12194440e-4).f32x4Mul().f32x4Sub().set(r);
      f.v128ConstF32(POLY[0]).set(p);
      for (const c of POLY.slice(1)) f.get(p).get(r).f32x4Mul().v128ConstF32(c).f32x4Add().set(p);
      // exp(r) = p r^2 + r + 1, then times 2^n = bits (n + 127) << 23.
      f.get(p).get(r).f32x4Mul().get(r).f32x4Mul().get(r).f32x4Add().v128ConstF32(1).f32x4Add();
      f.get(n).i32x4TruncSatF32x4S().get(bias).i32x4Add().i32Const(23).i32x4Shl().f32x4Mul().set(v);
      at(f, x, col).get(v); s.store(f, h);
    }
  });
  return f;
}

type I32Fn<N extends number[]> = (...args: N) => void;
interface Exports {
  biasAct: I32Fn<[number, number, number, number, number, number, number, number]>;
  axpyRows: I32Fn<[number, number, number, number, number, number, number, number, number]>;
  dotRows: I32Fn<[number, number, number, number, number, number, number, number]>;
  adam: (...args: number[]) => void;
  sgd: (...args: number[]) => void;
  expInPlace: (count: number, x: number) => void;
}

let compiled: Promise<WebAssembly.Module> | undefined;
function elementwiseModule(): Promise<WebAssembly.Module> {
  compiled ??= WebAssembly.compile(encodeModule([
    { name: 'biasAct', fn: emitBiasAct() },
    { name: 'axpyRows', fn: emitAxpyRows() },
    { name: 'dotRows', fn: emitDotRows() },
    { name: 'adam', fn: emitAdam() },
    { name: 'sgd', fn: emitSgd() },
    { name: 'expInPlace', fn: emitExp() },
  ]));
  return compiled;
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

/** The kernels instantiated on one heap's memory; offsets passed in are heap element offsets. */
export class CpuElementwise {
  private constructor(
    private readonly heap: CpuHeap,
    private readonly k: Exports,
  ) {}

  /** Compiles (once per process) and instantiates the module on the heap's memory. */
  static async create(heap: CpuHeap): Promise<CpuElementwise> {
    const instance = await WebAssembly.instantiate(await elementwiseModule(), { env: { memory: heap.memory } });
    return new CpuElementwise(heap, instance.exports as unknown as Exports);
  }

  /** bias_act_backward: dY masked by ReLU (where !(Y > 0)) and db = column sums of dY. */
  biasActBackward(e: BiasActEntry, dY: number, y: number, db: number): void {
    const flags = (e.relu ? FLAG_RELU : 0) | (e.dbOff !== undefined ? FLAG_DB : 0);
    if (flags === 0) return;
    this.k.biasAct(e.rows, e.cols, 4 * (dY + e.dyOff), 4 * e.dyRow, 4 * (y + e.yOff), 4 * e.yRow, 4 * (db + (e.dbOff ?? 0)), flags);
  }

  /** mixture: out[r] = sum_j gateW[r, j] z[r, member j], gate by gate in order. */
  mixture(e: MixtureEntry, gateW: number, z: number, out: number): void {
    const runs = memberRuns(e);
    let first = true;
    for (const run of runs) {
      for (let j = 0; j < run.count; j++) {
        this.k.axpyRows(
          e.rows, e.d, 4 * (gateW + e.wOff + run.wCol + j), 4 * e.wRow,
          4 * (z + e.zOff + (run.expert + j) * e.d), 4 * e.zRow, 4 * (out + e.outOff), 4 * e.outRow, first ? 0 : 1,
        );
        first = false;
      }
    }
    if (first) this.zeroRows(e.rows, e.d, out + e.outOff, e.outRow);
  }

  /** mixture_expert_grad: dZ[r] = sum over the gates mixing this expert of gateW[r, wCol] dG[r]. */
  expertGrad(e: ExpertGradEntry, gateW: number, dG: number, dZ: number): void {
    e.members.forEach((m, i) => {
      this.k.axpyRows(e.rows, e.d, 4 * (gateW + e.wOff + m.wCol), 4 * e.wRow, 4 * (dG + m.dgOff), 4 * e.dgRow, 4 * (dZ + e.dzOff), 4 * e.dzRow, i === 0 ? 0 : 1);
    });
    if (e.members.length === 0) this.zeroRows(e.rows, e.d, dZ + e.dzOff, e.dzRow);
  }

  /**
   * mixture_gate_grad: dw_j = dG[r] . z[r, member j] (in WASM, written to dLogit first), then
   * dLogit[r, j] = w_j (dw_j - sum_k w_k dw_k). dLogit must not overlap gateW, z or dG.
   */
  gateGrad(e: GateGradEntry, gateW: number, z: number, dG: number, dLogit: number): void {
    const dl = dLogit + e.dlOff;
    for (const run of memberRuns(e)) {
      for (let j = 0; j < run.count; j++) {
        this.k.dotRows(e.rows, e.d, 4 * (dG + e.dgOff), 4 * e.dgRow, 4 * (z + e.zOff + (run.expert + j) * e.d), 4 * e.zRow, 4 * (dl + run.wCol + j), 4 * e.dlRow);
      }
    }
    const f = this.heap.f32;
    for (let r = 0; r < e.rows; r++) {
      const w = gateW + e.wOff + r * e.wRow;
      const o = dl + r * e.dlRow;
      let dot = 0;
      for (let j = 0; j < e.n; j++) dot += f[w + j] * f[o + j];
      for (let j = 0; j < e.n; j++) f[o + j] = f[w + j] * (f[o + j] - dot);
    }
  }

  /** The optimizer update of `count` params (shaders/optimizer.wgsl's rules). */
  optimizer(s: OptimizerScalars, count: number, params: number, grads: number, m1: number, m2: number): void {
    const { optimizer: o, lr } = s;
    const decayEnd = Math.max(0, Math.min(count, s.decayEnd));
    // Two calls: the decayed params [0, decayEnd), then the rest with no decay.
    const parts: [number, number, number][] = [[0, decayEnd, o.weightDecay], [decayEnd, count, 0]];
    for (const [from, to, wd] of parts) {
      if (to <= from) continue;
      const at = (buffer: number) => 4 * (buffer + from);
      if (o.kind === 'sgd') {
        this.k.sgd(to - from, at(params), at(grads), at(m1), s.scale, o.momentum, lr, wd);
        continue;
      }
      const adam = o.kind === 'adam';
      this.k.adam(
        to - from, at(params), at(grads), at(m1), at(m2),
        s.scale, o.beta1, 1 - o.beta1, o.beta2, 1 - o.beta2, lr, 1 - Math.pow(o.beta1, s.t), 1 - Math.pow(o.beta2, s.t), o.eps,
        adam ? wd : 0, adam ? 0 : lr * wd,
      );
    }
  }

  /**
   * The softmax of each row of a rows x n matrix of logits (contiguous, overwritten) into out
   * (row stride outRow): subtract the row's max, exp in WASM, divide by the row's sum.
   */
  softmaxRows(rows: number, n: number, logits: number, out: number, outRow: number): void {
    const f = this.heap.f32;
    for (let r = 0; r < rows; r++) {
      const row = logits + r * n;
      let max = -Infinity;
      for (let j = 0; j < n; j++) max = Math.max(max, f[row + j]);
      for (let j = 0; j < n; j++) f[row + j] -= max;
    }
    this.k.expInPlace(rows * n, 4 * logits);
    for (let r = 0; r < rows; r++) {
      const row = logits + r * n;
      let sum = 0;
      for (let j = 0; j < n; j++) sum += f[row + j];
      const o = out + r * outRow;
      for (let j = 0; j < n; j++) f[o + j] = f[row + j] / sum;
    }
  }

  private zeroRows(rows: number, d: number, at: number, stride: number): void {
    for (let r = 0; r < rows; r++) this.heap.f32.fill(0, at + r * stride, at + r * stride + d);
  }
}

/** A gate's members as runs of consecutive experts: gate columns [wCol, wCol + count) mix experts [expert, expert + count). */
function memberRuns(e: Pick<MixtureEntry, 'n' | 'ownStart' | 'ownCount' | 'sharedStart'>): { wCol: number; expert: number; count: number }[] {
  return [
    { wCol: 0, expert: e.ownStart, count: Math.min(e.ownCount, e.n) },
    { wCol: e.ownCount, expert: e.sharedStart, count: Math.max(0, e.n - e.ownCount) },
  ];
}
