/**
 * The CPU device's batched GEMM: exactly src/reference/batched_gemm.ts's semantics (the GPU's
 * shaders/batched_gemm.wgsl), C = act(A B + bias (+ C)) per entry, on buffers in one CpuHeap, by a
 * WebAssembly SIMD kernel emitted here (encoder: src/cpu/wasm.ts). Test: test/cpu_gemm.test.ts;
 * bench: bench/cpu-gemm.ts.
 *
 * The kernel keeps a 4 x 8 tile of C in f32x4 registers (4 x 4 for entries with n <= 4: the gates'
 * and towers' GEMMs): per k it splats one A element per row (so any A strides work: forward, and
 * dW's transposed A) and loads the tile's contiguous B elements, and it applies bias, accumulate
 * and ReLU while storing. It reads B in place when B's rows are contiguous (bCol = 1); B is packed
 * into scratch (k rows of whole tiles, zero-padded) for the dX layout (B transposed) and for the
 * last, partial column tile. A partial row tile repeats the last row's A (never reads past row m)
 * and stores only its rows; a partial column tile goes through a small scratch tile and is stored
 * element by element. Only the entry's own elements of C are read or written. Tiles run rows-outer
 * or columns-outer, whichever re-reads the smaller operand from cache per outer step. (4 x 8 was
 * measured fastest of 4x8, 5x8, 6x8, 8x8, 4x12, 4x16 and 3x16 on x86-64 V8, and unrolling k by 2
 * did not help; the larger tiles' accumulators likely no longer all fit in the 16 SIMD registers.)
 */
import type { GemmEntry } from '../kernels/batched_gemm.js';
import type { CpuHeap } from './heap.js';
import { alignUp } from './heap.js';
import { encodeModule, f32, FunctionBuilder, i32, v128 } from './wasm.js';

/** Rows of C per register tile. */
const TILE_M = 4;
/** Columns of C per register tile (a multiple of 4: f32x4 vectors). */
const TILE_N = 8;
/** Columns per tile of the narrow kernel, for entries with n <= NARROW_TILE_N (the gates' and towers' GEMMs). */
const NARROW_TILE_N = 4;

/** The tile width an entry runs with. */
const tileWidth = (n: number) => (n <= NARROW_TILE_N ? NARROW_TILE_N : TILE_N);

const FLAG_BIAS = 1;
const FLAG_ACCUMULATE = 2;
const FLAG_RELU = 4;

/** The kernel's exported signature: byte addresses and byte strides into the heap's memory. */
type KernelFn = (
  m: number, n: number, k: number,
  a: number, aRow: number, aCol: number,
  b: number, bRow: number,
  c: number, cRow: number,
  bias: number, flags: number, edgeTile: number,
) => void;

/**
 * `gemm(m, n, k, a, aRow, aCol, b, bRow, c, cRow, bias, flags, edgeTile)`: C[i, j] (at c + i cRow
 * + 4j) = act(sum_k A[i, k] B[k, j] + bias[j] + C[i, j]) for i < m, j < n, with A[i, k] at a + i
 * aRow + k aCol and B[k, j] at b + k bRow + 4j; B must be readable for j up to n rounded up to
 * the tile width tn, and bRow > 0 (the k loop counts B rows). Bias, accumulate and ReLU as `flags`
 * says. edgeTile: tm x tn floats of scratch.
 */
function emitKernel(tm: number, tn: number, columnsOuter: boolean): FunctionBuilder {
  const vecs = tn / 4;
  const f = new FunctionBuilder([i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32]);
  const [m, n, k, a, aRow, aCol, b, bRow, c, cRow, bias, flags, edgeTile] = f.params.map((_, i) => i);
  const i = f.local(i32);
  const j = f.local(i32);
  const bEnd = f.local(i32);
  const rows = f.local(i32); // rows of this tile: min(tm, m - i)
  const cols = f.local(i32); // columns of this tile in the partial column tile
  const r = f.local(i32);
  const q = f.local(i32);
  const bp = f.local(i32);
  const cp = f.local(i32);
  const at = f.local(i32);
  const v = f.local(f32);
  const rowStart = Array.from({ length: tm }, () => f.local(i32));
  const ap = Array.from({ length: tm }, () => f.local(i32));
  const acc = Array.from({ length: tm }, () => Array.from({ length: vecs }, () => f.local(v128)));
  const bv = Array.from({ length: vecs }, () => f.local(v128));
  const av = f.local(v128);
  const zero = f.local(v128);

  const flag = (bit: number) => f.get(flags).i32Const(bit).i32And();

  f.v128ConstF32(0).set(zero);
  /** rows = min(tm, m - i); row t of the tile reads A row i + min(t, rows - 1). */
  const tileRows = () => {
    f.get(m).get(i).i32Sub().set(rows);
    f.i32Const(tm).get(rows).get(rows).i32Const(tm).i32GtS().select().set(rows);
    for (let t = 0; t < tm; t++) {
      f.get(a).get(i);
      if (t > 0) f.i32Const(t).get(rows).i32Const(1).i32Sub().get(rows).i32Const(t).i32GtS().select().i32Add();
      f.get(aRow).i32Mul().i32Add().set(rowStart[t]);
    }
  };
  /** The tile at (i, j): k loop, then the stores. */
  const tile = () => {
    for (const row of acc) for (const x of row) f.get(zero).set(x);
    for (let t = 0; t < tm; t++) f.get(rowStart[t]).set(ap[t]);
    f.get(b).get(j).i32Const(2).i32Shl().i32Add().set(bp);
    // k loop, counted by bp: bEnd = bp + k bRow.
    f.get(bp).get(k).get(bRow).i32Mul().i32Add().set(bEnd);
    f.block().loop();
    f.get(bp).get(bEnd).i32Eq().brIf(1);
    {
      for (let h = 0; h < vecs; h++) f.get(bp).v128Load(16 * h).set(bv[h]);
      for (let t = 0; t < tm; t++) {
        f.get(ap[t]).v128Load32Splat().set(av);
        for (let h = 0; h < vecs; h++) f.get(acc[t][h]).get(av).get(bv[h]).f32x4Mul().f32x4Add().set(acc[t][h]);
        f.get(ap[t]).get(aCol).i32Add().set(ap[t]);
      }
      f.get(bp).get(bRow).i32Add().set(bp);
    }
    f.br(0).end().end();
    f.get(c).get(i).get(cRow).i32Mul().i32Add().get(j).i32Const(2).i32Shl().i32Add().set(cp);
    f.get(n).get(j).i32Sub().set(cols);
    f.get(cols).i32Const(tn).i32GeS().if();
    {
      // A whole column tile: bias, accumulate and ReLU on vectors, row by row.
      flag(FLAG_BIAS).if();
      for (let h = 0; h < vecs; h++) {
        f.get(bias).get(j).i32Const(2).i32Shl().i32Add().v128Load(16 * h).set(bv[h]);
        for (let t = 0; t < tm; t++) f.get(acc[t][h]).get(bv[h]).f32x4Add().set(acc[t][h]);
      }
      f.end();
      for (let t = 0; t < tm; t++) {
        if (t > 0) f.get(rows).i32Const(t).i32GtS().if();
        flag(FLAG_ACCUMULATE).if();
        for (let h = 0; h < vecs; h++) f.get(acc[t][h]).get(cp).v128Load(16 * h).f32x4Add().set(acc[t][h]);
        f.end();
        flag(FLAG_RELU).if();
        for (let h = 0; h < vecs; h++) f.get(acc[t][h]).get(zero).f32x4Max().set(acc[t][h]);
        f.end();
        for (let h = 0; h < vecs; h++) f.get(cp).get(acc[t][h]).v128Store(16 * h);
        f.get(cp).get(cRow).i32Add().set(cp);
        if (t > 0) f.end();
      }
    }
    f.else();
    {
      // The partial column tile: through edgeTile, element by element.
      for (let t = 0; t < tm; t++) for (let h = 0; h < vecs; h++) f.get(edgeTile).get(acc[t][h]).v128Store((t * tn + 4 * h) * 4);
      f.countUp(r, () => f.get(rows), 1, () => {
        f.countUp(q, () => f.get(cols), 1, () => {
          // v = edgeTile[r, q] (+ bias[j + q]) (+ C[i + r, j + q]), then ReLU; at = &C[i + r, j + q].
          f.get(cp).get(r).get(cRow).i32Mul().i32Add().get(q).i32Const(2).i32Shl().i32Add().set(at);
          f.get(edgeTile).get(r).i32Const(tn).i32Mul().get(q).i32Add().i32Const(2).i32Shl().i32Add().f32Load().set(v);
          flag(FLAG_BIAS).if();
          f.get(v).get(bias).get(j).get(q).i32Add().i32Const(2).i32Shl().i32Add().f32Load().f32Add().set(v);
          f.end();
          flag(FLAG_ACCUMULATE).if();
          f.get(v).get(at).f32Load().f32Add().set(v);
          f.end();
          flag(FLAG_RELU).if();
          f.get(v).f32Const(0).f32Max().set(v);
          f.end();
          f.get(at).get(v).f32Store();
        });
      });
    }
    f.end();
  };
  if (columnsOuter) f.countUp(j, () => f.get(n), tn, () => f.countUp(i, () => f.get(m), tm, () => { tileRows(); tile(); }));
  else f.countUp(i, () => f.get(m), tm, () => { tileRows(); f.countUp(j, () => f.get(n), tn, tile); });
  return f;
}

/** The module's exports: both tile orders at both tile widths. */
interface Kernels {
  rowsOuter: KernelFn;
  columnsOuter: KernelFn;
  narrowRowsOuter: KernelFn;
  narrowColumnsOuter: KernelFn;
}

let compiled: Promise<WebAssembly.Module> | undefined;
function kernelModule(): Promise<WebAssembly.Module> {
  compiled ??= WebAssembly.compile(encodeModule([
    { name: 'rowsOuter', fn: emitKernel(TILE_M, TILE_N, false) },
    { name: 'columnsOuter', fn: emitKernel(TILE_M, TILE_N, true) },
    { name: 'narrowRowsOuter', fn: emitKernel(TILE_M, NARROW_TILE_N, false) },
    { name: 'narrowColumnsOuter', fn: emitKernel(TILE_M, NARROW_TILE_N, true) },
  ]));
  return compiled;
}

/** B is read in place when its rows are contiguous; the kernel's k loop counts B rows, so they must advance. */
const readsBInPlace = (e: GemmEntry) => e.bCol === 1 && e.bRow > 0;

/** Floats of B packed for an entry: B transposed (dX) needs all of it; otherwise only a partial last column tile. */
function packedBFloats(e: GemmEntry): number {
  const tn = tileWidth(e.n);
  if (!readsBInPlace(e)) return e.k * Math.ceil(e.n / tn) * tn;
  return e.n % tn === 0 ? 0 : e.k * tn;
}

/** Floats of scratch `run` needs for these entries (packing / edge tiles). */
export function gemmScratchFloats(entries: readonly GemmEntry[]): number {
  let packed = 0;
  for (const e of entries) packed = Math.max(packed, packedBFloats(e));
  return alignUp(TILE_M * TILE_N) + packed;
}

export class CpuGemm {
  private constructor(
    private readonly heap: CpuHeap,
    private readonly kernels: Kernels,
    private readonly scratchOffset: number,
    private readonly scratchFloats: number,
  ) {}

  /** Compiles (once per process, cache the WebAssembly.Module) and instantiates the kernel on the heap's memory; scratch is heap.f32[scratchOffset, scratchOffset + scratchFloats). */
  static async create(heap: CpuHeap, scratchOffset: number, scratchFloats: number): Promise<CpuGemm> {
    if (scratchOffset % 4 !== 0 || scratchOffset < 0 || scratchOffset + scratchFloats > heap.f32.length) {
      throw new RangeError(`GEMM scratch [${scratchOffset}, ${scratchOffset + scratchFloats}) is not an aligned region of the CPU heap (${heap.f32.length} floats)`);
    }
    const instance = await WebAssembly.instantiate(await kernelModule(), { env: { memory: heap.memory } });
    return new CpuGemm(heap, instance.exports as unknown as Kernels, scratchOffset, scratchFloats);
  }

  /** Runs the entries with the A, B, C and bias buffers starting at these element offsets of the heap (entry offsets are relative to them). */
  run(entries: readonly GemmEntry[], a: number, b: number, c: number, bias?: number): void {
    const need = gemmScratchFloats(entries);
    if (need > this.scratchFloats) throw new RangeError(`these GEMM entries need ${need} floats of scratch; the CPU GEMM was given ${this.scratchFloats}`);
    const mem = this.heap.f32;
    const edgeTile = this.scratchOffset;
    const packed = this.scratchOffset + alignUp(TILE_M * TILE_N);
    for (const e of entries) {
      const { m, n, k } = e;
      if (m === 0 || n === 0) continue;
      if (e.biasOff !== undefined && bias === undefined) throw new Error('a GEMM entry has biasOff but no bias buffer was given');
      const aAt = a + e.aOff;
      const bAt = b + e.bOff;
      const cAt = c + e.cOff;
      const biasAt = e.biasOff !== undefined ? bias! + e.biasOff : 0;
      checkInHeap(mem.length, 'A', aAt, [[m, e.aRow], [k, e.aCol]]);
      checkInHeap(mem.length, 'B', bAt, [[k, e.bRow], [n, e.bCol]]);
      checkInHeap(mem.length, 'C', cAt, [[m, e.cRow], [n, 1]]);
      if (e.biasOff !== undefined) checkInHeap(mem.length, 'bias', biasAt, [[n, 1]]);
      const flags = (e.biasOff !== undefined ? FLAG_BIAS : 0) | (e.accumulate ? FLAG_ACCUMULATE : 0) | (e.relu ? FLAG_RELU : 0);
      // The operand re-read for every tile of the outer loop is the smaller one (B: k x n, A: m x k).
      const tn = tileWidth(n);
      const narrow = tn === NARROW_TILE_N;
      const kernel = n <= m ? (narrow ? this.kernels.narrowRowsOuter : this.kernels.rowsOuter) : narrow ? this.kernels.narrowColumnsOuter : this.kernels.columnsOuter;
      const call = (cols: number, col0: number, bBytes: number, bRowBytes: number) =>
        kernel(m, cols, k, aAt * 4, e.aRow * 4, e.aCol * 4, bBytes, bRowBytes, (cAt + col0) * 4, e.cRow * 4, (biasAt + col0) * 4, flags, edgeTile * 4);
      if (!readsBInPlace(e)) {
        // B transposed (dX), or rows that do not advance: pack all of it, k rows of `width` floats, zero-padded.
        const width = Math.ceil(n / tn) * tn;
        packB(mem, packed, width, bAt, e.bRow, e.bCol, k, 0, n);
        call(n, 0, packed * 4, width * 4);
        continue;
      }
      const whole = n - (n % tn);
      if (whole > 0) call(whole, 0, bAt * 4, e.bRow * 4);
      if (whole < n) {
        packB(mem, packed, tn, bAt, e.bRow, 1, k, whole, n);
        call(n - whole, whole, packed * 4, tn * 4);
      }
    }
  }
}

/** Copies B's columns [j0, j1) into `to` as k rows of `width` floats (columns past j1 - j0 zero). */
function packB(f32: Float32Array, to: number, width: number, from: number, bRow: number, bCol: number, k: number, j0: number, j1: number): void {
  for (let kk = 0; kk < k; kk++) {
    const row = to + kk * width;
    const src = from + kk * bRow;
    for (let j = j0; j < j1; j++) f32[row + j - j0] = f32[src + j * bCol];
    f32.fill(0, row + j1 - j0, row + width);
  }
}

/** Throws when an operand's elements (non-negative strides) reach past the heap. */
function checkInHeap(heapFloats: number, operand: string, at: number, dims: [number, number][]): void {
  let last = at;
  for (const [size, stride] of dims) {
    if (stride < 0) throw new RangeError(`GEMM ${operand} has a negative stride (${stride})`);
    last += (size - 1) * stride;
  }
  if (at < 0 || (dims.every(([size]) => size > 0) && last >= heapFloats)) {
    throw new RangeError(`GEMM ${operand} elements [${at}, ${last}] reach past the CPU heap (${heapFloats} floats)`);
  }
}
