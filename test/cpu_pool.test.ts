/**
 * The CPU device's thread pool (src/cpu/pool.ts): every call runs once on the shared memory, lists
 * longer than one dispatch run whole, the per-thread argument is offset by the thread that runs the
 * call, a trap on a worker or on this thread is thrown here (naming the worker) once every call has
 * finished and the pool runs on after it, a destroyed pool refuses to run, and a Node process exits
 * whether or not it destroyed its pool.
 * Also CpuDevice's `threads` option. The GEMM on several threads: test/cpu_gemm.test.ts.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { CpuDevice } from '../src/cpu/device.js';
import { gemmModule } from '../src/cpu/gemm.js';
import { CpuHeap } from '../src/cpu/heap.js';
import { CpuThreadPool, threadsForWork, type Call } from '../src/cpu/pool.js';

/** Floats of B (one row of 8) and of each output row of C. */
const WIDTH = 8;

/** A shared heap with B = [1, 2, ..., 8] at float 0 and the A scalars from float 64; C rows from float 16384; a 32 x 32 x 256 product's operands from float 98304. */
async function setUp(threads: number) {
  const heap = new CpuHeap(1 << 17, { shared: true });
  const module = await gemmModule(true);
  const pool = await CpuThreadPool.create(heap.memory, [module], threads);
  const f = heap.f32;
  for (let j = 0; j < WIDTH; j++) f[j] = j + 1;
  const fn = pool.functionIndex(module, 'rowsOuter');
  const A = 64;
  const C = 16384;
  const edge = 32;
  /** C row `row` = (row + 1) * B, by one 1 x 8 x 1 kernel call. */
  const rowCall = (row: number): Call => {
    f[A + row] = row + 1;
    return { fn, args: [1, WIDTH, 1, (A + row) * 4, 4, 4, 0, WIDTH * 4, (C + row * WIDTH) * 4, WIDTH * 4, 0, 0, edge * 4] };
  };
  /** The same call, storing past the end of the memory: a trap. */
  const trapCall: Call = { fn, args: [1, WIDTH, 1, A * 4, 4, 4, 0, WIDTH * 4, heap.memory.buffer.byteLength + 64, WIDTH * 4, 0, 0, edge * 4] };
  /** A call that takes a while (0.5 MFLOP), writing its own region. */
  const slowCall: Call = { fn, args: [32, 32, 256, 98304 * 4, 256 * 4, 4, (98304 + 8192) * 4, 32 * 4, (98304 + 16384) * 4, 32 * 4, 0, 0, edge * 4] };
  const rowIs = (row: number) => Array.from(f.subarray(C + row * WIDTH, C + (row + 1) * WIDTH)).every((v, j) => v === (row + 1) * (j + 1));
  return { heap, pool, rowCall, trapCall, slowCall, rowIs, C };
}

const pools: CpuThreadPool[] = [];
afterEach(() => {
  for (const p of pools.splice(0)) p.destroy();
});

describe('CPU thread pool', () => {
  it('runs every call once, lists longer than one dispatch whole (3 threads, 3000 calls)', async () => {
    const { pool, rowCall, rowIs } = await setUp(3);
    pools.push(pool);
    pool.run([Array.from({ length: 3000 }, (_, row) => rowCall(row))]);
    const missing = Array.from({ length: 3000 }, (_, row) => row).filter((row) => !rowIs(row));
    expect(missing).toEqual([]);
  });

  it('runs every call of every part once: 1 to 5 parts, empty parts, more parts than threads or than a dispatch holds, dispatches back to back', async () => {
    const { heap, pool, rowCall, rowIs, C } = await setUp(3);
    pools.push(pool);
    let row = 0;
    const cuts: number[][] = [[40], [13, 27], [0, 25, 0], [1, 2, 3, 4, 5], [7, 0, 0, 9], Array.from({ length: 20 }, (_, i) => i % 4), [600, 500]];
    for (let round = 0; round < 20; round++) {
      for (const sizes of cuts) {
        const first = row;
        const parts = sizes.map((n) => Array.from({ length: n }, () => rowCall(row++)));
        heap.f32.fill(0, C + first * WIDTH, C + row * WIDTH);
        pool.run(parts);
        const missing = Array.from({ length: row - first }, (_, i) => first + i).filter((r) => !rowIs(r));
        expect(missing, `parts of ${sizes.join(', ')} calls, round ${round}`).toEqual([]);
        row = 0;
      }
    }
  });

  it('runs the parts in order on one thread (each thread starts with its own part, then takes the others in turn)', async () => {
    const { heap, pool, rowCall, C } = await setUp(1);
    pools.push(pool);
    // Three parts each writing row 0 (overwriting, with B scaled by A): the last part's value stays.
    const write = (scale: number) => {
      const call = rowCall(0);
      heap.f32[64 + 100 + scale] = scale;
      return { ...call, args: call.args.map((v, i) => (i === 3 ? (64 + 100 + scale) * 4 : v)) };
    };
    pool.run([[write(1)], [write(2)], [write(3)]]);
    expect(heap.f32[C]).toBe(3);
    pool.run([[write(3)], [write(2)], [write(1)]]);
    expect(heap.f32[C]).toBe(1);
  });

  it('offsets the per-thread argument by the running thread: each thread writes its own row', async () => {
    const { heap, pool, rowCall } = await setUp(3);
    pools.push(pool);
    // Many calls writing "row 0" offset by thread * one row: every row written belongs to a thread that ran.
    const f = heap.f32;
    const call = rowCall(0);
    const C = call.args[8];
    f.fill(0, C / 4, C / 4 + 3 * WIDTH);
    pool.run([Array.from({ length: 600 }, () => ({ ...call, perThread: { arg: 8, stride: WIDTH * 4 } }))]);
    const rows = [0, 1, 2].map((t) => Array.from(f.subarray(C / 4 + t * WIDTH, C / 4 + (t + 1) * WIDTH)));
    // A thread that ran calls wrote B into its own row, one that ran none left zeros; some thread ran them.
    for (const r of rows) expect([[0, 0, 0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8]]).toContainEqual(r);
    expect(rows.filter((r) => r[0] === 1).length).toBeGreaterThan(0);
    expect(f[C / 4 + 3 * WIDTH]).toBe(0); // nothing past thread 2's row
  });

  it('throws a trap on a worker here, naming the worker; then runs on', async () => {
    const { heap, pool, rowCall, slowCall, rowIs } = await setUp(2);
    pools.push(pool);
    // A call that adds B to row 0 on this thread and traps on the worker (its C offset by 1 GiB there).
    const base = rowCall(0);
    const addOrTrap: Call = { fn: base.fn, args: base.args.map((v, i) => (i === 11 ? 2 : v)), perThread: { arg: 8, stride: 1 << 30 } }; // flags 2: accumulate
    const C = base.args[8] / 4;
    // 1,000 calls, every tenth a slow one: the worker wakes during the dispatch and claims some, unless
    // the host keeps it off a core throughout; then this thread ran them all, which row 0 counts.
    let thrown: Error | undefined;
    for (let dispatch = 0; dispatch < 50 && !thrown; dispatch++) {
      heap.f32.fill(0, C, C + WIDTH);
      try {
        pool.run([Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? slowCall : addOrTrap))]);
        // No error: then no call ran on the worker (a trap there that went unreported would leave row 0 short).
        expect(heap.f32[C], 'row 0 counts the trapping calls this thread ran').toBe(900);
      } catch (e) {
        thrown = e as Error;
      }
    }
    expect(thrown?.message).toMatch(/^CPU worker thread 1 failed: RuntimeError: .*out of bounds/);
    pool.run([Array.from({ length: 10 }, (_, i) => rowCall(6000 + i))]);
    expect(Array.from({ length: 10 }, (_, i) => rowIs(6000 + i)).every(Boolean)).toBe(true);
  });

  it('throws a trap on this thread once every call has finished', async () => {
    const { pool, rowCall, trapCall, rowIs } = await setUp(2);
    pools.push(pool);
    expect(() => pool.run([[trapCall, ...Array.from({ length: 50 }, (_, i) => rowCall(i))]])).toThrow(/out of bounds/);
    expect(Array.from({ length: 50 }, (_, i) => rowIs(i)).every(Boolean)).toBe(true);
  });

  it('refuses to run once destroyed, and a memory that is not shared', async () => {
    const { pool, rowCall } = await setUp(2);
    pool.destroy();
    expect(() => pool.run([[rowCall(0)]])).toThrow(/destroyed/);
    await expect(CpuThreadPool.create(new WebAssembly.Memory({ initial: 1 }), [], 2)).rejects.toThrow(/shared WebAssembly.Memory/);
  });

  for (const destroy of [true, false]) {
    it(`lets a Node process exit that trained on 2 threads and ${destroy ? 'destroyed' : 'never destroyed'} its trainer`, async () => {
      const script = `
        import { CpuDevice } from './src/cpu/device.ts';
        import { Trainer } from './src/trainer.ts';
        import { ple } from './src/config.ts';
        const device = await CpuDevice.create({ threads: 2 });
        if (device.threads !== 2) throw new Error('not on 2 threads: ' + device.describeThreads());
        const config = ple({ inputDim: 8, tasks: [{ name: 'a', type: 'binary' }], levels: 1, taskExperts: 1, sharedExperts: 1, expertWidths: [8], towerWidths: [4] });
        const trainer = await Trainer.create(device, config, { batchSize: 64 });
        const r = await trainer.step({ rows: 64, x: new Float32Array(64 * 8).fill(0.5), labels: new Float32Array(64) });
        ${destroy ? 'trainer.destroy();' : ''}
        console.log('stepped', r.total);
        // Fires only if something still keeps the process running 3 s after its last statement.
        setTimeout(() => { console.log('still running'); process.exit(3); }, 3000).unref();`;
      const r = await promisify(execFile)('node', ['--import', 'tsx', '--import', './scripts/register-raw.mjs', '--input-type=module', '-e', script], { cwd: process.cwd(), timeout: 60_000 });
      expect(r.stdout).toMatch(/^stepped 0\.\d+\n$/);
    });
  }
});

describe('threadsForWork: how many threads a run is cut for', () => {
  it('as many as get minFlopsPerThread each, at least 1 and at most the pool; 0 means all', () => {
    const min = 1000;
    const cases: [number, number, number, number][] = [
      // [threads, flops, minFlopsPerThread, want]
      [1, 1e9, min, 1],
      [4, 0, min, 1],
      [4, 1999, min, 1],
      [4, 2000, min, 2],
      [4, 3999, min, 3],
      [4, 1e9, min, 4],
      [2, 1999, min, 1],
      [2, 2000, min, 2],
      [3, 0, 0, 3],
      [16, 1, 0, 16],
    ];
    for (const [threads, flops, minFlops, want] of cases) expect(threadsForWork(threads, flops, minFlops), `${threads} threads, ${flops} FLOPs, min ${minFlops}`).toBe(want);
  });
});

describe('CpuDevice threads', () => {
  it('defaults to the host cores (at most 16), takes a count as asked, refuses bad ones naming threads', async () => {
    const cores = availableParallelism();
    const auto = await CpuDevice.create();
    expect(auto.threads).toBe(Math.min(cores, 16));
    expect(auto.describeThreads()).toBe(`${auto.threads} thread${auto.threads > 1 ? 's' : ''} (${cores > 16 ? `${cores} cores, at most 16` : `${cores} core${cores > 1 ? 's' : ''}`})`);
    const one = await CpuDevice.create({ threads: 1 });
    expect([one.threads, one.threadsNote]).toEqual([1, `as asked; ${cores} core${cores > 1 ? 's' : ''}`]);
    expect((await CpuDevice.create({ threads: 3 })).threads).toBe(3);
    for (const bad of [0, 1.5, 17, -2, NaN]) await expect(CpuDevice.create({ threads: bad })).rejects.toThrow(/^threads must be a whole number from 1 to 16, got /);
  });

  it('runs 1 thread where memory cannot be shared (a page that is not cross-origin isolated), saying why', async () => {
    const g = globalThis as { crossOriginIsolated?: boolean };
    g.crossOriginIsolated = false;
    try {
      const device = await CpuDevice.create({ threads: 4 });
      expect(device.threads).toBe(1);
      expect(device.describeThreads()).toBe(
        '1 thread (the page is not cross-origin isolated, so it cannot share memory with workers; serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)',
      );
    } finally {
      delete g.crossOriginIsolated;
    }
  });
});
