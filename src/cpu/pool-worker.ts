/**
 * The worker side of the CPU device's thread pool (src/cpu/pool.ts), and the layout of the control
 * block both sides share.
 *
 * The worker is a plain-JS string, not a module of its own: Node starts it with
 * `new Worker(source, { eval: true })` and a browser from a Blob URL, so it needs no bundler or
 * loader support for worker entry points (Vite, tsx, a user's bundler, the published package all
 * run it as is). Keep it self-contained: no imports, no TypeScript, ES2020. It runs in Node (as a
 * CommonJS script, started without the parent's flags, or as ES module code, which has no
 * `require`) and in a browser worker (`self`).
 *
 * A worker instantiates the pool's WebAssembly modules on the shared memory, then loops: wait until
 * the generation counter moves (spinning `spinMs` first, so dispatches close together skip a
 * futex wake-up), then claim calls of the dispatch's list one at a time, as every thread does,
 * those of its own part first, until none is left, and wait again. A claim is a compare-and-swap
 * on the part's claim word, which holds the dispatch's generation and the part's next call index,
 * so a worker that wakes late, after its dispatch is over, can claim nothing of the next one by
 * mistake: the main thread closes every claim word (the new generation, no call left) before it
 * writes the next list. A call that throws (a WebAssembly trap) is reported through the control
 * block; it still counts as finished.
 */

/** Int32 slots of the control block (a SharedArrayBuffer). */
export const CONTROL = {
  /** Bumped by the main thread to start a dispatch. */
  generation: 0,
  /** Calls of the current dispatch finished (by any thread). */
  finished: 1,
  /** Non-zero: workers leave their loop at the next generation. */
  stop: 2,
  /** The number (1-based) of the first worker whose call threw in this dispatch, else 0. */
  errorThread: 3,
  /** Bytes of its UTF-8 message at errorText. */
  errorLength: 4,
  /** Parts in the current dispatch (at most maxParts). */
  parts: 5,
  /** Calls in the current dispatch's list. */
  total: 6,
  /**
   * Int32 index of the parts' claim words, one per part: (generation & GENERATION_MASK) <<
   * INDEX_BITS | index of the part's next unclaimed call.
   */
  claims: 8,
  /** Int32 index of the parts' ends: the index past each part's last call. */
  ends: 8 + 16,
  /** Parts one dispatch holds (as many as the CPU device's most threads, src/cpu/threads.ts MAX_CPU_THREADS; CpuThreadPool.run cuts more into dispatches of one part). */
  maxParts: 16,
  /** Int32 index where the error message's bytes start. */
  errorText: 8 + 32,
  /** Bytes kept of an error message. */
  errorBytes: 1024,
  /** Int32 index of the call list. */
  list: 8 + 32 + 256,
  /**
   * Int32s per call: export index, argument count, the argument offset by the thread (-1: none),
   * that offset per thread number, then up to maxArgs arguments (the element-wise expert
   * gradient's calls take 23).
   */
  callInts: 28,
  maxArgs: 24,
  /** Calls one dispatch holds (a longer list goes in several). */
  listCalls: 1024,
  /** Bits of a claim word that count calls (listCalls fits). */
  indexBits: 12,
  /** Generation bits kept in a claim word (so it stays a positive int32). */
  generationMask: 0x7ffff,
} as const;

/** The worker's source: a classic script (browser) or CommonJS (Node `eval: true`). */
export const WORKER_SOURCE = `'use strict';
const C = ${JSON.stringify(CONTROL)};
const inNode = typeof process === 'object' && !!(process.versions && process.versions.node);
const port = !inNode ? self : (typeof require === 'function' ? require : process.getBuiltinModule)('node:worker_threads').parentPort;
const receiveOnce = (handler) => {
  if (inNode) port.once('message', handler);
  else self.onmessage = (event) => { self.onmessage = null; handler(event.data); };
};

receiveOnce((init) => {
  let c, fns, seen;
  try {
    c = new Int32Array(init.control);
    fns = [];
    for (const module of init.modules) {
      const exports = new WebAssembly.Instance(module, { env: { memory: init.memory } }).exports;
      for (const e of WebAssembly.Module.exports(module)) if (e.kind === 'function') fns.push(exports[e.name]);
    }
    seen = Atomics.load(c, C.generation);
  } catch (e) {
    port.postMessage({ error: String((e && e.stack) || e) });
    return;
  }
  port.postMessage({ ready: true });
  for (;;) {
    let g = Atomics.load(c, C.generation);
    if (g === seen && init.spinMs > 0) {
      const until = performance.now() + init.spinMs;
      while ((g = Atomics.load(c, C.generation)) === seen && performance.now() < until);
    }
    while (g === seen) {
      Atomics.wait(c, C.generation, seen);
      g = Atomics.load(c, C.generation);
    }
    seen = g;
    if (Atomics.load(c, C.stop) !== 0) break;
    work(c, fns, init.thread, g);
  }
  if (!inNode) self.close();
});

/** One call's arguments, reused: reading them off the shared list into a new array (Array.from of a view) cost about 2 us a call. A WebAssembly function ignores the arguments past its own. */
const args = new Array(C.maxArgs).fill(0);

/**
 * Claims and runs calls of generation g until none is left: first of its own part (the thread's
 * number modulo the parts), then of each part after it in turn.
 */
function work(c, fns, thread, g) {
  const tag = (g & C.generationMask) << C.indexBits;
  const indexMask = (1 << C.indexBits) - 1;
  const parts = Atomics.load(c, C.parts);
  const total = Atomics.load(c, C.total);
  for (let s = 0; s < parts; s++) {
    const part = (thread + s) % parts;
    const end = Atomics.load(c, C.ends + part);
    for (;;) {
      const v = Atomics.load(c, C.claims + part);
      // Another generation's word: this dispatch is over (the worker woke late).
      if ((v & ~indexMask) !== tag) return;
      const i = v & indexMask;
      if (i >= end) break;
      if (Atomics.compareExchange(c, C.claims + part, v, v + 1) !== v) continue;
      const at = C.list + i * C.callInts;
      try {
        const count = c[at + 1];
        for (let a = 0; a < count; a++) args[a] = c[at + 4 + a];
        if (c[at + 2] >= 0) args[c[at + 2]] += thread * c[at + 3];
        fns[c[at]].apply(null, args);
      } catch (e) {
        if (Atomics.compareExchange(c, C.errorThread, 0, thread) === 0) {
          const text = new TextEncoder().encode(e && e.name ? e.name + ': ' + e.message : String(e)).subarray(0, C.errorBytes);
          new Uint8Array(c.buffer, C.errorText * 4, C.errorBytes).set(text);
          Atomics.store(c, C.errorLength, text.length);
        }
      }
      if (Atomics.add(c, C.finished, 1) + 1 === total) Atomics.notify(c, C.finished);
    }
  }
}
`;
