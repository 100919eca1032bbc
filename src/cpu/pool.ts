/**
 * The CPU device's thread pool: runs a list of WebAssembly calls on N threads (this one and N - 1
 * workers) over one shared WebAssembly memory, in Node and in a browser. It knows nothing of what
 * the calls compute: a caller (the GEMM, src/cpu/gemm.ts; the elementwise kernels,
 * src/cpu/elementwise.ts) splits its work into independent calls of exported functions with i32
 * arguments, one argument of a call optionally offset by the running thread's number (a per-thread
 * scratch address).
 *
 * A dispatch: this thread writes the list, cut into parts, into the control block (a
 * SharedArrayBuffer, layout in src/cpu/pool-worker.ts with the worker's code), bumps the generation
 * counter and notifies; then every thread, this one included, claims calls one at a time (a
 * compare-and-swap on the part's claim word), those of its own part first (thread t: part t mod
 * the parts), then the other parts' until none is left. Own parts keep a thread on the rows it
 * wrote in the op before (when the caller cuts every op's rows alike: partOf), where they are
 * still in its core's cache; claiming one call at a time means a worker that wakes late or is
 * descheduled by other load on the host takes fewer calls instead of holding the others up. This
 * thread returns once every call has finished: it waits in Atomics.wait where it may block (Node),
 * and spins on a browser's main thread, which may not. The counters are sequentially consistent
 * atomics, so what a worker wrote to the memory before counting its call finished is visible here
 * after the wait. A call that throws on a worker (a trap) is thrown here, after every call has
 * finished, naming the worker; a worker that fails outside a dispatch makes the next dispatch
 * throw. (A worker killed from outside in the middle of a call would leave the dispatch waiting:
 * nothing here kills workers but destroy().)
 */
import { CONTROL, WORKER_SOURCE } from './pool-worker.js';
import { canBlock, startWorker, type WorkerHandle } from './threads.js';

/** One call: the function's index (CpuThreadPool.functionIndex) and its i32 arguments; with perThread, args[arg] + thread * stride on thread number `thread` (0: this one). */
export interface Call {
  fn: number;
  args: readonly number[];
  perThread?: { arg: number; stride: number };
}

/**
 * Threads a run of `flops` work is cut for on a pool of `threads`: as many as get at least
 * minFlopsPerThread each, at most `threads` (all of them when minFlopsPerThread is 0), so a run
 * under twice minFlopsPerThread stays on the calling thread (waking the workers would cost more than
 * it saves). The GEMM and the element-wise kernels both split by this rule.
 */
export function threadsForWork(threads: number, flops: number, minFlopsPerThread: number): number {
  if (threads <= 1) return 1;
  if (minFlopsPerThread <= 0) return threads;
  return Math.max(1, Math.min(threads, Math.floor(flops / minFlopsPerThread)));
}

/**
 * The part (of `parts`, for CpuThreadPool.run) that item `index` of `count` falls in when they are
 * cut into that many equal runs: callers that cut every op's rows (or elements) by this rule keep
 * each thread on the same rows from op to op.
 */
export function partOf(index: number, count: number, parts: number): number {
  return Math.min(parts - 1, Math.floor((index * parts) / count));
}

/**
 * How long a worker spins on the generation counter after a dispatch before it blocks: long enough
 * to stay awake through a step's stretches of single-thread work between dispatches (the gates'
 * softmax, the task losses), whose ends would otherwise wait for a blocked worker to be woken.
 * On a 2-core x86-64 VM, against a 0.05 ms spin, 1 ms took 0.98x the time per step at batch 512,
 * 0.99x at 128 and 0.97x at 2048 (bench-small, steps alternating in one process); with 4 ms idle
 * before each step, 0.73x at 128.
 */
const DEFAULT_SPIN_MS = 1;
/** How long this thread spins on the finished counter before it blocks (where it may). */
const MAIN_SPIN_MS = 0.05;

/** What the workers' listeners and the clean-up registry share; it holds no reference to the pool, so an unreferenced pool can be collected. */
interface PoolState {
  control: Int32Array;
  workers: WorkerHandle[];
  failure?: string;
  stopped: boolean;
}

function stop(state: PoolState): void {
  if (state.stopped) return;
  state.stopped = true;
  Atomics.store(state.control, CONTROL.stop, 1);
  Atomics.add(state.control, CONTROL.generation, 1);
  Atomics.notify(state.control, CONTROL.generation);
  for (const w of state.workers) w.terminate();
}

/** Stops the workers of a pool that was dropped without destroy(). */
const registry = new FinalizationRegistry<PoolState>(stop);

export class CpuThreadPool {
  private readonly block = canBlock();
  private destroyed = false;

  private constructor(
    /** Threads a dispatch runs on: this one and threads - 1 workers. */
    readonly threads: number,
    private readonly state: PoolState,
    /** This thread's instances' functions, in functionIndex order. */
    private readonly fns: ((...args: number[]) => void)[],
    private readonly modules: readonly WebAssembly.Module[],
  ) {}

  /**
   * Starts threads - 1 workers, each instantiating `modules` on `memory` (a shared memory), and
   * instantiates them here too. Resolves once every worker is ready; rejects naming the first that
   * failed to start.
   */
  static async create(memory: WebAssembly.Memory, modules: readonly WebAssembly.Module[], threads: number, { spinMs = DEFAULT_SPIN_MS } = {}): Promise<CpuThreadPool> {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`a thread pool needs a whole number of threads >= 1, got ${threads}`);
    if (!(memory.buffer instanceof SharedArrayBuffer)) throw new TypeError('a thread pool needs a shared WebAssembly.Memory');
    const fns: ((...args: number[]) => void)[] = [];
    for (const module of modules) {
      const { exports } = await WebAssembly.instantiate(module, { env: { memory } });
      for (const e of WebAssembly.Module.exports(module)) if (e.kind === 'function') fns.push(exports[e.name] as (...args: number[]) => void);
    }
    const control = new Int32Array(new SharedArrayBuffer((CONTROL.list + CONTROL.listCalls * CONTROL.callInts) * 4));
    const state: PoolState = { control, workers: [], stopped: false };
    try {
      const workers = await Promise.all(Array.from({ length: threads - 1 }, () => startWorker(WORKER_SOURCE)));
      state.workers.push(...workers);
      await Promise.all(
        workers.map(
          (w, i) =>
            new Promise<void>((resolve, reject) => {
              const thread = i + 1;
              w.onFailure((why) => {
                state.failure ??= `CPU worker thread ${thread} stopped: ${why}`;
                reject(new Error(state.failure));
              });
              w.onMessage((m) => {
                const message = m as { ready?: boolean; error?: string };
                if (message.ready) resolve();
                else reject(new Error(`CPU worker thread ${thread} could not start: ${message.error}`));
              });
              w.post({ memory, modules, control: control.buffer, thread, spinMs });
            }),
        ),
      );
    } catch (e) {
      stop(state);
      throw e;
    }
    // Started: from here the workers only wait on the control block, which must not keep Node running.
    for (const w of state.workers) w.unref();
    const pool = new CpuThreadPool(threads, state, fns, modules);
    registry.register(pool, state, pool);
    return pool;
  }

  /** The index of an exported function of one of the pool's modules, for a Call. */
  functionIndex(module: WebAssembly.Module, name: string): number {
    let index = 0;
    for (const m of this.modules) {
      for (const e of WebAssembly.Module.exports(m)) {
        if (e.kind !== 'function') continue;
        if (m === module && e.name === name) return index;
        index++;
      }
    }
    throw new Error(`the thread pool has no function ${name} of that module`);
  }

  /**
   * Runs the calls of every part, each once, and returns when all have finished. Thread t (0: this
   * one) starts with part t modulo the parts and then helps with each part after it in turn, so a
   * caller that cuts its work the same way op after op (part t: the t-th range of rows, say) keeps
   * each thread on the data it wrote last while the threads keep pace; a thread that falls behind
   * (descheduled by other load on the host) just runs fewer calls. A dispatch holds at most
   * CONTROL.listCalls calls and CONTROL.maxParts parts: more calls, or more parts, run as one list
   * (the parts one after the other) cut into several dispatches of a single part each, in order.
   * @throws Error naming the worker when a call threw on one (after every call has finished), the
   *   error itself when a call threw on this thread, or an Error when a worker has stopped.
   */
  run(parts: readonly (readonly Call[])[]): void {
    if (this.destroyed) throw new Error('this CPU thread pool was destroyed');
    if (this.state.failure) throw new Error(this.state.failure);
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (total <= CONTROL.listCalls && parts.length <= CONTROL.maxParts) {
      this.dispatch(parts);
      return;
    }
    const calls = parts.flat();
    for (let from = 0; from < calls.length; from += CONTROL.listCalls) this.dispatch([calls.slice(from, from + CONTROL.listCalls)]);
  }

  /** Stops and terminates the workers. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    registry.unregister(this);
    stop(this.state);
  }

  private dispatch(parts: readonly (readonly Call[])[]): void {
    const c = this.state.control;
    const generation = (Atomics.load(c, CONTROL.generation) + 1) | 0;
    const tag = (generation & CONTROL.generationMask) << CONTROL.indexBits;
    const indexMask = (1 << CONTROL.indexBits) - 1;
    // Close every part's claim word first: a worker still in the last dispatch (woken late) then
    // fails its next claim instead of taking a call of this list as it is written.
    for (let p = 0; p < CONTROL.maxParts; p++) Atomics.store(c, CONTROL.claims + p, tag | indexMask);
    let total = 0;
    for (const part of parts) {
      for (const call of part) {
        if (call.args.length > CONTROL.maxArgs) throw new RangeError(`a pool call takes at most ${CONTROL.maxArgs} arguments, got ${call.args.length}`);
        const at = CONTROL.list + total * CONTROL.callInts;
        c[at] = call.fn;
        c[at + 1] = call.args.length;
        c[at + 2] = call.perThread ? call.perThread.arg : -1;
        c[at + 3] = call.perThread ? call.perThread.stride : 0;
        c.set(call.args, at + 4);
        total++;
      }
    }
    Atomics.store(c, CONTROL.parts, parts.length);
    Atomics.store(c, CONTROL.total, total);
    Atomics.store(c, CONTROL.finished, 0);
    let start = 0;
    parts.forEach((part, p) => {
      Atomics.store(c, CONTROL.ends + p, start + part.length);
      Atomics.store(c, CONTROL.claims + p, tag | start);
      start += part.length;
    });
    Atomics.store(c, CONTROL.generation, generation);
    Atomics.notify(c, CONTROL.generation);
    // This thread claims calls too, as thread 0: its own part first, then the others'.
    let thrown: { error: unknown } | undefined;
    for (let p = 0, first = 0; p < parts.length; first += parts[p].length, p++) {
      const end = first + parts[p].length;
      for (;;) {
        const v = Atomics.load(c, CONTROL.claims + p);
        const i = v & indexMask;
        if (i >= end) break;
        if (Atomics.compareExchange(c, CONTROL.claims + p, v, v + 1) !== v) continue;
        const call = parts[p][i - first];
        try {
          this.fns[call.fn](...call.args);
        } catch (error) {
          thrown ??= { error };
        }
        Atomics.add(c, CONTROL.finished, 1);
      }
    }
    this.waitForAll(total);
    const failed = Atomics.load(c, CONTROL.errorThread);
    if (failed !== 0) {
      const bytes = new Uint8Array(c.buffer, CONTROL.errorText * 4, Atomics.load(c, CONTROL.errorLength)).slice();
      Atomics.store(c, CONTROL.errorThread, 0);
      throw new Error(`CPU worker thread ${failed} failed: ${new TextDecoder().decode(bytes)}`);
    }
    if (thrown) throw thrown.error;
  }

  /** Returns once `total` calls have finished. */
  private waitForAll(total: number): void {
    const c = this.state.control;
    const until = performance.now() + MAIN_SPIN_MS;
    let finished: number;
    while ((finished = Atomics.load(c, CONTROL.finished)) < total) {
      if (this.block && performance.now() > until) Atomics.wait(c, CONTROL.finished, finished, 100);
    }
  }
}
