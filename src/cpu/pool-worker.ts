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
 * the generation counter moves (spinning `spinMs` first, so back-to-back dispatches skip a futex
 * wake-up), run its call list (each call: export index, argument count, i32 arguments), add one to
 * the done counter and notify. A call that throws (a WebAssembly trap) is reported through the
 * control block; the worker still counts itself done and keeps serving.
 */

/** Int32 slots of the control block (a SharedArrayBuffer). */
export const CONTROL = {
  /** Bumped by the main thread to start a dispatch. */
  generation: 0,
  /** Workers that finished the current dispatch. */
  done: 1,
  /** Non-zero: workers leave their loop at the next generation. */
  stop: 2,
  /** The index (1-based thread number) of the first worker whose call threw in this dispatch, else 0. */
  errorThread: 3,
  /** Bytes of its UTF-8 message at errorText. */
  errorLength: 4,
  /** Int32 index where the error message's bytes start. */
  errorText: 16,
  /** Bytes kept of an error message. */
  errorBytes: 1024,
  /** Int32 index of worker 1's call list; worker t's starts listInts further on per t. */
  lists: 16 + 256,
  /** Int32s per call: export index, argument count, up to maxArgs arguments. */
  callInts: 16,
  maxArgs: 14,
  /** Calls a worker's list holds in one dispatch (longer lists go in several). */
  listCalls: 256,
} as const;

/** Int32s of one worker's list: its call count, then its calls. */
export const LIST_INTS = 1 + CONTROL.listCalls * CONTROL.callInts;

/** The worker's source: a classic script (browser) or CommonJS (Node `eval: true`). */
export const WORKER_SOURCE = `'use strict';
const C = ${JSON.stringify(CONTROL)};
const LIST_INTS = ${LIST_INTS};
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
  serve(c, fns, init.thread, init.spinMs, seen);
  if (!inNode) self.close();
});

function serve(c, fns, thread, spinMs, seen) {
  const list = C.lists + (thread - 1) * LIST_INTS;
  for (;;) {
    let g = Atomics.load(c, C.generation);
    if (g === seen && spinMs > 0) {
      const until = performance.now() + spinMs;
      while ((g = Atomics.load(c, C.generation)) === seen && performance.now() < until);
    }
    while (g === seen) {
      Atomics.wait(c, C.generation, seen);
      g = Atomics.load(c, C.generation);
    }
    seen = g;
    if (Atomics.load(c, C.stop) !== 0) return;
    try {
      const count = c[list];
      for (let i = 0; i < count; i++) {
        const at = list + 1 + i * C.callInts;
        fns[c[at]].apply(null, c.subarray(at + 2, at + 2 + c[at + 1]));
      }
    } catch (e) {
      if (Atomics.compareExchange(c, C.errorThread, 0, thread) === 0) {
        const text = new TextEncoder().encode(e && e.name ? e.name + ': ' + e.message : String(e)).subarray(0, C.errorBytes);
        new Uint8Array(c.buffer, C.errorText * 4, C.errorBytes).set(text);
        Atomics.store(c, C.errorLength, text.length);
      }
    }
    Atomics.add(c, C.done, 1);
    Atomics.notify(c, C.done);
  }
}
`;
