/**
 * src/cpu/gemm.ts (the CPU device's WebAssembly GEMM) against src/reference/batched_gemm.ts on
 * random inputs: the three operand layouts the model uses, odd and larger sizes (n <= m and n > m,
 * so both tile orders; n <= 4 and wider, so both tile widths), bias / ReLU / accumulate, several
 * entries per call writing column slices of one wide C, buffers at non-zero heap offsets, and
 * operands that end at the heap's last float. Every heap element outside the
 * entries' C elements and the scratch must be left bit for bit as it was.
 *
 * Each case's GEMM is prepared once and runs twice, on other values of B first (B, the weights,
 * changes between a step's runs, so every run must pack it afresh).
 *
 * Every case runs on 1, 2 and 3 threads (a worker pool on a shared heap, src/cpu/pool.ts; 3 is
 * more than some hosts have cores), each GEMM split even at the smallest sizes, and on 3 threads cut
 * for 2 (threadsForWork's choice for a run too small for 3): each result is checked against the
 * reference and for stray writes, and must be bit for bit the 1-thread one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CpuGemm, gemmModule, gemmScratchFloats } from '../src/cpu/gemm.js';
import { CpuHeap } from '../src/cpu/heap.js';
import { CpuThreadPool } from '../src/cpu/pool.js';
import type { GemmEntry } from '../src/kernels/batched_gemm.js';
import { gemmReference } from '../src/reference/batched_gemm.js';
import { Rng } from '../src/rng.js';
import { caseSeed, withSeed } from './helpers.js';

type Layout = 'forward' | 'dW' | 'dX';

/** Strides of A (m x k) and B (k x n) in each layout: forward X W, dW = X^T dY, dX = dY W^T. */
function strides(layout: Layout, m: number, n: number, k: number) {
  switch (layout) {
    case 'forward': return { aRow: k, aCol: 1, bRow: n, bCol: 1 };
    case 'dW': return { aRow: 1, aCol: m, bRow: n, bCol: 1 };
    case 'dX': return { aRow: k, aCol: 1, bRow: 1, bCol: k };
  }
}

interface EntryShape { m: number; n: number; k: number; layout: Layout }

/** Regions of one case in the heap, by element offset; C is one wide row-major matrix whose column slices the entries write. */
interface Case {
  entries: GemmEntry[];
  scratch: number; scratchFloats: number;
  a: number; aLen: number; b: number; bLen: number; c: number; cLen: number; bias: number; biasLen: number;
  floats: number;
}

/**
 * Lays out `shapes` as entries with random bias / ReLU / accumulate and gaps between operands. With
 * `atEnd`, the heap is exactly its pages and A, B and C end at its last float, in turn (`atEnd`
 * names which; the others come before it).
 */
function layOut(rng: Rng, shapes: readonly EntryShape[], base: number, atEnd?: 'a' | 'b' | 'c', adjust?: (e: GemmEntry, index: number) => GemmEntry): Case {
  const entries: GemmEntry[] = [];
  let aLen = rng.int(0, 3);
  let bLen = rng.int(0, 3);
  let biasLen = rng.int(0, 3);
  const cRow = shapes.reduce((s, e) => s + e.n, 0) + rng.int(0, 3);
  let col = rng.int(0, 2);
  const cRowWide = cRow + col;
  for (const { m, n, k, layout } of shapes) {
    const useBias = rng.uniform() < 0.5;
    entries.push({
      m, n, k, ...strides(layout, m, n, k),
      aOff: aLen, bOff: bLen, cOff: col, cRow: cRowWide,
      relu: rng.uniform() < 0.5,
      accumulate: rng.uniform() < 0.4,
      biasOff: useBias ? biasLen : undefined,
    });
    aLen += m * k + rng.int(0, 3);
    bLen += k * n + rng.int(0, 3);
    if (useBias) biasLen += n + rng.int(0, 3);
    col += n;
  }
  if (adjust) entries.forEach((e, i) => (entries[i] = adjust(e, i)));
  const maxM = Math.max(...shapes.map((s) => s.m));
  const cLen = maxM * cRowWide;
  const scratchFloats = Math.max(...THREADS.map((t) => gemmScratchFloats(entries, t)));
  // Regions in order scratch, bias, then A, B, C with the `atEnd` one last; gaps of 1 to 7 floats.
  const order: ('a' | 'b' | 'c')[] = ['a', 'b', 'c'];
  if (atEnd) order.push(...order.splice(order.indexOf(atEnd), 1));
  const lens = { a: aLen, b: bLen, c: cLen };
  const at = { a: 0, b: 0, c: 0 };
  const scratch = base;
  const bias = scratch + Math.ceil(scratchFloats / 4) * 4 + 4;
  let next = bias + biasLen + rng.int(1, 7);
  for (const r of order) {
    at[r] = next;
    next += lens[r] + rng.int(1, 7);
  }
  let floats = next + 5;
  if (atEnd) {
    // Shift the last region so it ends exactly at the end of whole pages.
    floats = Math.ceil(next / 16384) * 16384;
    at[atEnd] = floats - lens[atEnd];
  }
  return { entries, scratch, scratchFloats, a: at.a, aLen, b: at.b, bLen, c: at.c, cLen, bias, biasLen, floats };
}

/** The thread counts every case runs on. */
const THREADS = [1, 2, 3];
/** Pools every case runs on and the threads its run is cut for (threadsForWork): all of them, and 3 cut for 2 (every thread may still claim a block). */
const RUNS: { threads: number; cutFor: number }[] = [...THREADS.map((t) => ({ threads: t, cutFor: t })), { threads: 3, cutFor: 2 }];

/** Shared heaps with a pool on them, by pages and threads: cases of the same size reuse one (starting workers takes a while). */
const pooled = new Map<string, { heap: CpuHeap; pool: CpuThreadPool }>();
afterAll(() => {
  for (const { pool } of pooled.values()) pool.destroy();
});

/** A heap of `floats` for a GEMM on `threads` threads, and the GEMM on it (splitting even the smallest entries unless minFlopsPerThread says otherwise). */
async function gemmOn(floats: number, threads: number, scratch: number, scratchFloats: number, minFlopsPerThread = 0): Promise<{ heap: CpuHeap; gemm: CpuGemm; pool?: CpuThreadPool }> {
  if (threads === 1) {
    const heap = new CpuHeap(floats);
    return { heap, gemm: await CpuGemm.create(heap, scratch, scratchFloats) };
  }
  const key = `${Math.ceil((floats * 4) / 65536)} ${threads}`;
  let p = pooled.get(key);
  if (!p) {
    const heap = new CpuHeap(floats, { shared: true });
    p = { heap, pool: await CpuThreadPool.create(heap.memory, [await gemmModule(true)], threads) };
    pooled.set(key, p);
  }
  return { heap: p.heap, gemm: await CpuGemm.create(p.heap, scratch, scratchFloats, { pool: p.pool, minFlopsPerThread }), pool: p.pool };
}

/**
 * Runs a case on each thread count, on a heap of the same random floats, and checks each result
 * against the float64 reference, for stray writes, and (above 1 thread) bit for bit against 1 thread's.
 */
async function check(label: string, seed: number, rng: Rng, cs: Case): Promise<void> {
  const fail = (msg: string) => {
    throw new Error(`${label}: ${msg} (seed ${seed}; rerun with PLE_TEST_SEED=${seed})`);
  };
  let initial: Float32Array | undefined;
  let oneThread: Uint32Array | undefined;
  const flops = cs.entries.reduce((s, e) => s + 2 * e.m * e.n * e.k, 0);
  for (const { threads, cutFor } of RUNS) {
    // Cut for fewer threads than the pool has: minFlopsPerThread of 1 / (cutFor + 0.5) of the FLOPs.
    const { heap, gemm, pool } = await gemmOn(cs.floats, threads, cs.scratch, cs.scratchFloats, cutFor < threads ? flops / (cutFor + 0.5) : 0);
    const f = heap.f32;
    expect(f.length).toBeGreaterThanOrEqual(cs.floats);
    if (!initial) {
      initial = new Float32Array(f.length);
      for (let i = 0; i < f.length; i++) initial[i] = rng.normal();
    }
    f.set(initial);
    // Prepared once, then run on other values of B first: the run checked below must pack B afresh.
    const run = gemm.prepare(cs.entries, cs.a, cs.b, cs.c, cs.bias);
    for (let i = cs.b; i < cs.b + cs.bLen; i++) f[i] = 1 - 2 * f[i];
    await withSeed(seed, async () => run());
    f.set(initial);
    const written = new Set<number>();
    for (const e of cs.entries) {
      for (let i = 0; i < e.m; i++) {
        for (let j = 0; j < e.n; j++) {
          const at = cs.c + e.cOff + i * e.cRow + j;
          written.add(at);
          if (!e.accumulate) f[at] = NaN; // must be written
        }
      }
    }
    f.fill(NaN, cs.scratch, cs.scratch + cs.scratchFloats);
    const before = new Uint32Array(heap.u32);
    const region = (at: number, len: number) => Float64Array.from(f.subarray(at, at + len));
    const [a, b, c, bias] = [region(cs.a, cs.aLen), region(cs.b, cs.bLen), region(cs.c, cs.cLen), region(cs.bias, cs.biasLen)];
    // The reference on absolute values bounds each element's rounding: sum_k |a||b| + |bias| + |c|.
    const abs = (x: Float64Array) => x.map(Math.abs);
    const scale = abs(c);
    gemmReference(cs.entries.map((e) => ({ ...e, relu: false })), abs(a), abs(b), scale, abs(bias));
    gemmReference(cs.entries, a, b, c, bias);

    // A trap (a read or write past the heap) names the seed too. On a pool, the run must be one dispatch cut for cutFor threads.
    const dispatches: number[] = [];
    const poolRun = pool?.run;
    if (pool) pool.run = (list) => (dispatches.push(list.length), poolRun!.call(pool, list));
    try {
      await withSeed(seed, async () => run());
    } finally {
      if (pool) pool.run = poolRun!;
    }
    if (threads > 1 && (dispatches.length !== 1 || dispatches[0] !== cutFor)) fail(`on ${threads} threads cut for ${cutFor}, the run made dispatches of [${dispatches.join(', ')}] parts, not one of ${cutFor}`);

    const on = `${threads} thread${threads > 1 ? 's' : ''}${cutFor < threads ? ` cut for ${cutFor}` : ''}`;
    const u = heap.u32;
    for (let i = 0; i < f.length; i++) {
      if (i >= cs.scratch && i < cs.scratch + cs.scratchFloats) continue;
      if (written.has(i)) {
        const want = c[i - cs.c];
        const tol = 1e-5 * scale[i - cs.c] + 1e-30;
        if (!(Math.abs(f[i] - want) <= tol)) fail(`on ${on}, C element ${i - cs.c} is ${f[i]}, want ${want} (tolerance ${tol.toExponential(2)})`);
        if (oneThread && u[i] !== oneThread[i]) fail(`on ${on}, C element ${i - cs.c} is ${f[i]}, not bit for bit 1 thread's ${new Float32Array(oneThread.buffer)[i]}`);
      } else if (u[i] !== before[i]) {
        fail(`on ${on}, heap element ${i} (not an output) changed from ${new Float32Array(before.buffer)[i]} to ${f[i]}`);
      }
    }
    if (threads === 1) oneThread = new Uint32Array(u);
  }
}

const layouts: Layout[] = ['forward', 'dW', 'dX'];
const odd = [1, 3, 5, 7, 9, 13, 33];

describe('CPU GEMM (WebAssembly)', () => {
  for (const layout of layouts) {
    it(`${layout}: every m, k of ${odd.join(', ')}, each call's entries n = ${odd.join(', ')}, 4, 8 and a random n up to 40, column slices of one wide C`, async () => {
      const seed = caseSeed(`cpu gemm ${layout}`);
      const rng = new Rng(seed);
      for (const m of odd) {
        for (const k of odd) {
          const shapes = [...odd, 4, 8, rng.int(1, 40)].map((n) => ({ m, n, k, layout }));
          // Shuffle, so slices of each width sit at different column offsets.
          for (let i = shapes.length - 1; i > 0; i--) {
            const j = rng.int(0, i);
            [shapes[i], shapes[j]] = [shapes[j], shapes[i]];
          }
          await check(`${layout} m ${m} k ${k}`, seed, rng, layOut(rng, shapes, 4 * rng.int(1, 9)));
        }
      }
    });
  }

  it('larger entries (129x70x65, 64x128x96, 100x16x37) in each layout and mixed in one call', async () => {
    const seed = caseSeed('cpu gemm larger');
    const rng = new Rng(seed);
    const sizes = [[129, 70, 65], [64, 128, 96], [100, 16, 37]];
    for (const layout of layouts) {
      await check(`larger ${layout}`, seed, rng, layOut(rng, sizes.map(([m, n, k]) => ({ m, n, k, layout })), 12));
    }
    const mixed = layouts.flatMap((layout, i) => sizes.map(([m, n, k]) => ({ m: m - i, n: n + i, k, layout })));
    await check('larger, mixed layouts', seed, rng, layOut(rng, mixed, 40));
  });

  it('operands ending at the heap\'s last float are read and written only within their elements', async () => {
    const seed = caseSeed('cpu gemm heap end');
    const rng = new Rng(seed);
    for (const layout of layouts) {
      for (const atEnd of ['a', 'b', 'c'] as const) {
        const shapes = [{ m: 7, n: 13, k: 5, layout }, { m: 9, n: 3, k: 6, layout }, { m: 2, n: 8, k: 4, layout }];
        await check(`${layout}, ${atEnd.toUpperCase()} at the heap's end`, seed, rng, layOut(rng, shapes, 8, atEnd));
      }
    }
  });

  it('degenerate strides: B rows or A columns that do not advance (a broadcast operand), k = 1', async () => {
    const seed = caseSeed('cpu gemm degenerate strides');
    const rng = new Rng(seed);
    for (const [m, n, k] of [[5, 9, 3], [6, 4, 1], [3, 17, 2]]) {
      const cs = layOut(rng, [{ m, n, k, layout: 'forward' }, { m, n, k, layout: 'dX' }], 8, undefined, (e, i) => (i === 0 ? { ...e, bRow: 0 } : { ...e, aCol: 0 }));
      await check(`degenerate strides ${m}x${n}x${k}`, seed, rng, cs);
    }
  });

  it('refuses too little scratch and operands past the heap, naming them', async () => {
    const heap = new CpuHeap(1024);
    const e: GemmEntry = { m: 4, n: 5, k: 3, aOff: 0, aRow: 3, aCol: 1, bOff: 0, bRow: 1, bCol: 3, cOff: 0, cRow: 5 };
    const gemm = await CpuGemm.create(heap, 0, 32);
    expect(() => gemm.run([e], 100, 200, 300)).toThrow(/need \d+ floats of scratch; the CPU GEMM was given 32/);
    const enough = await CpuGemm.create(heap, 0, gemmScratchFloats([e]));
    expect(() => enough.run([e], 100, 200, heap.f32.length - 10)).toThrow(/GEMM C elements .* reach past the CPU heap/);
    expect(() => enough.run([{ ...e, biasOff: 0 }], 100, 200, 300)).toThrow(/no bias buffer/);
    await expect(CpuGemm.create(heap, 2, 32)).rejects.toThrow(/scratch/);
  });
});
