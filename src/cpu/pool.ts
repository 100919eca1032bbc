/**
 * The CPU device's thread pool: runs lists of WebAssembly calls on N threads (this one and N - 1
 * workers) over one shared WebAssembly memory, in Node and in a browser. It knows nothing of what
 * the calls compute: a caller (the GEMM, src/cpu/gemm.ts) splits its work into calls of exported
 * functions with i32 arguments and hands the pool one list per thread.
 *
 * A dispatch: this thread writes each worker's list into the control block (a SharedArrayBuffer,
 * layout in src/cpu/pool-worker.ts with the worker's code), bumps the generation counter and
 * notifies; it runs its own list on its own instances meanwhile, then waits until every worker
 * has counted itself done (Atomics.wait where this thread may block, as in Node; spinning on a
 * browser's main thread, which may not). The counters are sequentially consistent atomics, so what
 * a worker wrote to the memory before counting itself done is visible here after the wait. A call
 * that throws on a worker (a trap) is thrown here, after every thread has finished, naming the
 * worker; a worker that fails outside a dispatch makes the next dispatch throw.
 */
import { CONTROL, LIST_INTS, WORKER_SOURCE } from './pool-worker.js';
import { canBlock, startWorker, type WorkerHandle } from './threads.js';

/** One call: the function's index (CpuThreadPool.functionIndex) and its i32 arguments. */
export interface Call {
  fn: number;
  args: readonly number[];
}

/** How long a worker spins on the generation counter after a dispatch before it blocks: dispatches closer together skip a futex wake-up (about 10 to 100 us). */
const DEFAULT_SPIN_MS = 0.05;
/** How long this thread spins on the done counter before it blocks (where it may). */
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
    const control = new Int32Array(new SharedArrayBuffer((CONTROL.lists + (threads - 1) * LIST_INTS) * 4));
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
   * Runs lists[t] on thread t (0: this thread) and returns when every thread has finished. A list
   * longer than a worker's share of the control block runs in several dispatches.
   * @throws Error naming the thread when a call threw on a worker (after all have finished), or
   *   when a worker has stopped.
   */
  run(lists: readonly (readonly Call[])[]): void {
    if (this.destroyed) throw new Error('this CPU thread pool was destroyed');
    if (this.state.failure) throw new Error(this.state.failure);
    if (lists.length > this.threads) throw new RangeError(`${lists.length} call lists for ${this.threads} threads`);
    let longest = 0;
    for (let t = 1; t < lists.length; t++) longest = Math.max(longest, lists[t].length);
    const dispatches = Math.ceil(longest / CONTROL.listCalls);
    if (dispatches === 0) {
      this.runHere(lists[0] ?? []);
      return;
    }
    for (let d = 0; d < dispatches; d++) {
      const from = d * CONTROL.listCalls;
      this.dispatch(lists.map((list) => list.slice(from, from + CONTROL.listCalls)), d === 0 ? (lists[0] ?? []) : []);
    }
  }

  /** Stops and terminates the workers. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    registry.unregister(this);
    stop(this.state);
  }

  private dispatch(lists: readonly (readonly Call[])[], here: readonly Call[]): void {
    const c = this.state.control;
    for (let t = 1; t < this.threads; t++) {
      const list = lists[t] ?? [];
      const at = CONTROL.lists + (t - 1) * LIST_INTS;
      c[at] = list.length;
      list.forEach((call, i) => {
        if (call.args.length > CONTROL.maxArgs) throw new RangeError(`a pool call takes at most ${CONTROL.maxArgs} arguments, got ${call.args.length}`);
        const r = at + 1 + i * CONTROL.callInts;
        c[r] = call.fn;
        c[r + 1] = call.args.length;
        c.set(call.args, r + 2);
      });
    }
    Atomics.store(c, CONTROL.done, 0);
    Atomics.add(c, CONTROL.generation, 1);
    Atomics.notify(c, CONTROL.generation);
    let thrown: unknown;
    try {
      this.runHere(here);
    } catch (e) {
      thrown = e;
    }
    this.waitForWorkers();
    const failed = Atomics.load(c, CONTROL.errorThread);
    if (failed !== 0) {
      const bytes = new Uint8Array(c.buffer, CONTROL.errorText * 4, Atomics.load(c, CONTROL.errorLength)).slice();
      Atomics.store(c, CONTROL.errorThread, 0);
      throw new Error(`CPU worker thread ${failed} failed: ${new TextDecoder().decode(bytes)}`);
    }
    if (thrown !== undefined) throw thrown;
  }

  private runHere(list: readonly Call[]): void {
    for (const call of list) this.fns[call.fn](...call.args);
  }

  private waitForWorkers(): void {
    const c = this.state.control;
    const workers = this.threads - 1;
    const until = performance.now() + MAIN_SPIN_MS;
    let done: number;
    while ((done = Atomics.load(c, CONTROL.done)) < workers) {
      if (this.block && performance.now() > until) Atomics.wait(c, CONTROL.done, done, 100);
    }
  }
}
