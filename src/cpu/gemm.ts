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
 *
 * On several threads (a CpuThreadPool, src/cpu/pool.ts) a run packs B for all its entries first,
 * then cuts C into blocks of whole row tiles (or whole column tiles) that the threads claim, each
 * with its own edge tile, thread t's own part being the t-th run of each entry's tiles (see split):
 * every element of C is computed by one thread, in the same k order, so the result is bit for bit
 * the 1-thread one.
 */
import type { GemmEntry } from '../kernels/batched_gemm.js';
import type { CpuHeap } from './heap.js';
import { alignUp } from './heap.js';
import { threadsForWork, type Call, type CpuThreadPool } from './pool.js';
import type { CpuRun } from './elementwise.js';
import { moduleCompiler, f32, FunctionBuilder, i32, v128 } from './wasm.js';

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

/**
 * `packB(to, width, from, bRow, bCol, k, j0, j1)`: B's columns [j0, j1) (B[kk, j] at from + kk bRow
 * + j bCol, bytes) copied to `to` as k rows of `width` floats, the columns past j1 - j0 zero. (In
 * WebAssembly rather than a typed-array loop: about 3x faster over bench-small's packs, 0.21 to 0.10 ms a step at batch 512.)
 */
function emitPackB(): FunctionBuilder {
  const f = new FunctionBuilder(Array<typeof i32>(8).fill(i32));
  const [to, width, from, bRow, bCol, k, j0, j1] = f.params.map((_, i) => i);
  const kk = f.local(i32);
  const j = f.local(i32);
  const src = f.local(i32);
  const dst = f.local(i32);
  f.countUp(kk, () => f.get(k), 1, () => {
    f.get(from).get(j0).get(bCol).i32Mul().i32Add().set(src);
    f.get(to).set(dst);
    f.countUp(j, () => f.get(j1).get(j0).i32Sub(), 1, () => {
      f.get(dst).get(src).f32Load().f32Store();
      f.get(src).get(bCol).i32Add().set(src);
      f.get(dst).i32Const(4).i32Add().set(dst);
    });
    f.countUp(j, () => f.get(width).get(j1).i32Sub().get(j0).i32Add(), 1, () => {
      f.get(dst).f32Const(0).f32Store();
      f.get(dst).i32Const(4).i32Add().set(dst);
    });
    f.get(from).get(bRow).i32Add().set(from);
    f.get(to).get(width).i32Const(2).i32Shl().i32Add().set(to);
  });
  return f;
}

/** The module's exports: both tile orders at both tile widths. */
const KERNEL_NAMES = ['rowsOuter', 'columnsOuter', 'narrowRowsOuter', 'narrowColumnsOuter'] as const;
type KernelName = (typeof KERNEL_NAMES)[number];
type Kernels = Record<KernelName, KernelFn> & { packB: (to: number, width: number, from: number, bRow: number, bCol: number, k: number, j0: number, j1: number) => void };

/** The kernels' module, compiled once per process for each kind of memory (shared: worker threads). */
export const gemmModule = moduleCompiler(() => [
  { name: 'rowsOuter', fn: emitKernel(TILE_M, TILE_N, false) },
  { name: 'columnsOuter', fn: emitKernel(TILE_M, TILE_N, true) },
  { name: 'narrowRowsOuter', fn: emitKernel(TILE_M, NARROW_TILE_N, false) },
  { name: 'narrowColumnsOuter', fn: emitKernel(TILE_M, NARROW_TILE_N, true) },
  { name: 'packB', fn: emitPackB() },
]);

/** B is read in place when its rows are contiguous; the kernel's k loop counts B rows, so they must advance. */
const readsBInPlace = (e: GemmEntry) => e.bCol === 1 && e.bRow > 0;

/** Floats of B packed for an entry: B transposed (dX) needs all of it; otherwise only a partial last column tile. */
function packedBFloats(e: GemmEntry): number {
  const tn = tileWidth(e.n);
  if (!readsBInPlace(e)) return e.k * Math.ceil(e.n / tn) * tn;
  return e.n % tn === 0 ? 0 : e.k * tn;
}

/** Floats of an edge tile (one per thread). */
const EDGE_TILE_FLOATS = alignUp(TILE_M * TILE_N);

/**
 * Floats of scratch `run` needs for these entries on `threads` threads: an edge tile per thread,
 * and packed B. On one thread the entries take turns in one packing region; on several, B is
 * packed for all entries before the threads start, so each entry has its own.
 */
export function gemmScratchFloats(entries: readonly GemmEntry[], threads = 1): number {
  let packed = 0;
  for (const e of entries) packed = threads === 1 ? Math.max(packed, packedBFloats(e)) : packed + alignUp(packedBFloats(e));
  return threads * EDGE_TILE_FLOATS + packed;
}

/**
 * A run splits over as many threads as get this many FLOPs each (threadsForWork), so one below
 * twice this stays on the calling thread: waking a worker and waiting for it costs some 10 to 100
 * us a dispatch. On a 2-core x86-64 host, against 2^20 (bench-small's steps, alternating in one
 * process), 2^17 took 0.91x the time at batch 512 and 0.90x at 2048, and the same (1.01x) at 128;
 * 2^16 and 2^18 did no better.
 */
export const MIN_FLOPS_PER_THREAD = 2 ** 17;
/** Blocks of C a run is cut into per thread: enough that threads finishing early find more, few enough that each keeps its B in cache. */
const BLOCKS_PER_THREAD = 4;
/** The kernel argument that is the edge tile's address: each thread passes its own. */
const EDGE_TILE_ARG = 12;

/** Columns [j0, j1) of an entry's C and where B's column j0 is (bytes), B's row stride (bytes). */
interface Segment {
  j0: number;
  j1: number;
  b: number;
  bRow: number;
}

/** One entry's kernel arguments (bytes), its B segments and the packing B needs before each run, ready to call or split. */
interface Prepared {
  m: number; n: number; k: number;
  a: number; aRow: number; aCol: number; c: number; cRow: number; bias: number; flags: number;
  narrow: boolean;
  segments: Segment[];
  /** Copies B (or its partial last column tile) into the packing region; B changes between runs (the weights), so every run packs. */
  pack?: () => void;
}

/** The kernel that suits a block of C: the operand re-read for every tile of the outer loop is the smaller one (B: k x n, A: m x k). */
const kernelFor = (rows: number, cols: number, narrow: boolean): KernelName =>
  cols <= rows ? (narrow ? 'narrowRowsOuter' : 'rowsOuter') : narrow ? 'narrowColumnsOuter' : 'columnsOuter';

export class CpuGemm {
  private readonly threads: number;
  /** The kernels' function indices in the pool. */
  private readonly poolIndex: Record<KernelName, number> | undefined;

  private constructor(
    private readonly heap: CpuHeap,
    private readonly kernels: Kernels,
    private readonly scratchOffset: number,
    private readonly scratchFloats: number,
    private readonly pool: CpuThreadPool | undefined,
    module: WebAssembly.Module,
    private readonly minFlopsPerThread: number,
  ) {
    this.threads = pool?.threads ?? 1;
    this.poolIndex = pool && (Object.fromEntries(KERNEL_NAMES.map((name) => [name, pool.functionIndex(module, name)])) as Record<KernelName, number>);
  }

  /**
   * Compiles (once per process, cache the WebAssembly.Module) and instantiates the kernel on the
   * heap's memory; scratch is heap.f32[scratchOffset, scratchOffset + scratchFloats). With a pool
   * (on the heap's shared memory, holding gemmModule(true)) a run of at least 2 minFlopsPerThread
   * FLOPs splits over as many threads as get minFlopsPerThread each (default MIN_FLOPS_PER_THREAD; the tests set 0 to split even the
   * smallest).
   */
  static async create(heap: CpuHeap, scratchOffset: number, scratchFloats: number, { pool, minFlopsPerThread = MIN_FLOPS_PER_THREAD }: { pool?: CpuThreadPool; minFlopsPerThread?: number } = {}): Promise<CpuGemm> {
    if (scratchOffset % 4 !== 0 || scratchOffset < 0 || scratchOffset + scratchFloats > heap.f32.length) {
      throw new RangeError(`GEMM scratch [${scratchOffset}, ${scratchOffset + scratchFloats}) is not an aligned region of the CPU heap (${heap.f32.length} floats)`);
    }
    if (pool && !heap.shared) throw new Error('a GEMM on several threads needs a shared CPU heap');
    const module = await gemmModule(heap.shared);
    const instance = await WebAssembly.instantiate(module, { env: { memory: heap.memory } });
    return new CpuGemm(heap, instance.exports as unknown as Kernels, scratchOffset, scratchFloats, pool, module, minFlopsPerThread);
  }

  /**
   * Runs the entries with the A, B, C and bias buffers starting at these element offsets of the
   * heap (entry offsets are relative to them): {@link CpuGemm.prepare}'s run, once.
   */
  run(entries: readonly GemmEntry[], a: number, b: number, c: number, bias?: number): void {
    this.prepare(entries, a, b, c, bias)();
  }

  /**
   * The run of these entries on these buffers, worked out once (operands checked, kernel arguments
   * and the split over threads); each call packs B where needed and computes C. On several threads
   * every element of C is still computed by one thread in the same order, so the result is bit for
   * bit that of one thread.
   */
  prepare(entries: readonly GemmEntry[], a: number, b: number, c: number, bias?: number): CpuRun {
    const need = gemmScratchFloats(entries, this.threads);
    if (need > this.scratchFloats) throw new RangeError(`these GEMM entries need ${need} floats of scratch; the CPU GEMM was given ${this.scratchFloats}`);
    const flops = entries.reduce((s, e) => s + 2 * e.m * e.n * e.k, 0);
    // A run too small to pay for waking the workers stays on this thread.
    const threads = threadsForWork(this.threads, flops, this.minFlopsPerThread);
    const prepared: Prepared[] = [];
    let packed = this.scratchOffset + this.threads * EDGE_TILE_FLOATS;
    for (const e of entries) {
      if (e.m === 0 || e.n === 0) continue;
      prepared.push(this.layout(e, a, b, c, bias, packed));
      // One thread: each entry runs as soon as its B is packed, so all take turns in one region.
      if (threads > 1) packed += alignUp(packedBFloats(e));
    }
    if (threads === 1) {
      return () => {
        for (const p of prepared) {
          p.pack?.();
          this.runWhole(p);
        }
      };
    }
    const packs = prepared.flatMap((p) => p.pack ?? []);
    const calls = this.split(prepared, flops, threads);
    return () => {
      for (const pack of packs) pack();
      this.pool!.run(calls);
    };
  }

  /** Checks an entry's operands and returns its kernel arguments, B packed (where needed) at heap element `packed`. */
  private layout(e: GemmEntry, a: number, b: number, c: number, bias: number | undefined, packed: number): Prepared {
    const mem = this.heap.f32;
    const { m, n, k } = e;
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
    const tn = tileWidth(n);
    const segments: Segment[] = [];
    let pack: (() => void) | undefined;
    if (!readsBInPlace(e)) {
      // B transposed (dX), or rows that do not advance: pack all of it, k rows of `width` floats, zero-padded.
      const width = Math.ceil(n / tn) * tn;
      pack = () => this.kernels.packB(4 * packed, width, 4 * bAt, 4 * e.bRow, 4 * e.bCol, k, 0, n);
      segments.push({ j0: 0, j1: n, b: packed * 4, bRow: width * 4 });
    } else {
      const whole = n - (n % tn);
      if (whole > 0) segments.push({ j0: 0, j1: whole, b: bAt * 4, bRow: e.bRow * 4 });
      if (whole < n) {
        pack = () => this.kernels.packB(4 * packed, tn, 4 * bAt, 4 * e.bRow, 4, k, whole, n);
        segments.push({ j0: whole, j1: n, b: packed * 4, bRow: tn * 4 });
      }
    }
    return {
      m, n, k, a: aAt * 4, aRow: e.aRow * 4, aCol: e.aCol * 4, c: cAt * 4, cRow: e.cRow * 4, bias: biasAt * 4, flags,
      narrow: tn === NARROW_TILE_N, segments, pack,
    };
  }

  /** Runs a prepared entry whole on this thread, with thread 0's edge tile. */
  private runWhole(p: Prepared): void {
    const kernel = this.kernels[kernelFor(p.m, p.n, p.narrow)];
    for (const s of p.segments) {
      kernel(p.m, s.j1 - s.j0, p.k, p.a, p.aRow, p.aCol, s.b, s.bRow, p.c + 4 * s.j0, p.cRow, p.bias + 4 * s.j0, p.flags, this.scratchOffset * 4);
    }
  }

  /**
   * Splits the entries into blocks of C, rows in multiples of TILE_M or columns in multiples of
   * the tile width (whichever the entry has more tiles of), one part per thread: part t holds the
   * t-th of `threads` equal runs of every entry's tiles, cut into blocks of about
   * 1 / (BLOCKS_PER_THREAD threads) of the FLOPs, largest first. Runs of row tiles are about the
   * rows the element-wise kernels' row blocks give thread t too (pool.ts partOf), so each thread
   * starts on rows it wrote or will read in the ops around; one that finishes early helps with the
   * others'.
   */
  private split(prepared: readonly Prepared[], flops: number, threads: number): Call[][] {
    const parts = Array.from({ length: threads }, (): { flops: number; calls: Call[] }[] => []);
    const index = this.poolIndex!;
    const target = flops / (threads * BLOCKS_PER_THREAD);
    const perThread = { arg: EDGE_TILE_ARG, stride: EDGE_TILE_FLOATS * 4 };
    for (const p of prepared) {
      const tn = p.narrow ? NARROW_TILE_N : TILE_N;
      const rowTiles = Math.ceil(p.m / TILE_M);
      const colTiles = Math.ceil(p.n / tn);
      const byRows = rowTiles >= colTiles;
      const tiles = byRows ? rowTiles : colTiles;
      // Blocks per part: about the entry's share of a thread's FLOPs in target-sized blocks.
      const blocks = Math.max(1, Math.round((2 * p.m * p.n * p.k) / threads / target));
      for (let part = 0; part < threads; part++) {
        const first = Math.ceil((part * tiles) / threads);
        const last = Math.ceil(((part + 1) * tiles) / threads);
        const count = Math.min(blocks, last - first);
        for (let q = 0; q < count; q++) {
          const t0 = first + Math.floor((q * (last - first)) / count);
          const t1 = first + Math.floor(((q + 1) * (last - first)) / count);
          const [i0, i1] = byRows ? [t0 * TILE_M, Math.min(p.m, t1 * TILE_M)] : [0, p.m];
          const [j0, j1] = byRows ? [0, p.n] : [t0 * tn, Math.min(p.n, t1 * tn)];
          const fn = index[kernelFor(i1 - i0, j1 - j0, p.narrow)];
          const calls: Call[] = [];
          for (const s of p.segments) {
            const from = Math.max(j0, s.j0);
            const to = Math.min(j1, s.j1);
            if (from >= to) continue;
            calls.push({
              fn,
              args: [i1 - i0, to - from, p.k, p.a + i0 * p.aRow, p.aRow, p.aCol, s.b + 4 * (from - s.j0), s.bRow, p.c + i0 * p.cRow + 4 * from, p.cRow, p.bias + 4 * from, p.flags, this.scratchOffset * 4],
              perThread,
            });
          }
          parts[part].push({ flops: 2 * (i1 - i0) * (j1 - j0) * p.k, calls });
        }
      }
    }
    return parts.map((blocks) => blocks.sort((a, b) => b.flops - a.flops).flatMap((b) => b.calls));
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
