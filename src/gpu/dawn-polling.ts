/**
 * How often Dawn's Node binding checks for finished GPU work.
 *
 * While any of its promises is pending (mapAsync, onSubmittedWorkDone, popErrorScope, ...), the
 * binding re-queues an anonymous native callback with the global `setImmediate` that processes
 * Dawn's events and queues itself again: a busy loop that keeps one CPU core at 100% for as long
 * as the GPU works. The training step keeps a loss readback pending at all times, so the loop
 * never stops. On a software adapter (SwiftShader) the GPU work runs on the same CPU cores, and
 * the loop takes one of them away from it.
 *
 * `setDawnPollInterval(ms)` wraps the global `setImmediate`: the binding's first check after a
 * call still runs at once (work that is already done resolves without delay), and each further
 * check while the work is pending waits `ms` milliseconds on a timer. Every other caller of
 * `setImmediate` is passed through untouched. `setDawnPollInterval(0)` restores the original.
 */

type Immediate = typeof globalThis.setImmediate;

const original: Immediate = globalThis.setImmediate;
let intervalMs = 0;
/** True while one of the binding's checks runs: the callback it queues then is its next check. */
let inDawnCheck = false;

/** The binding's callbacks are anonymous native functions taking no arguments (N-API, no name). */
function isDawnCheck(callback: unknown, args: unknown[]): callback is () => void {
  return typeof callback === 'function' && args.length === 0 && callback.name === '' && /\{\s*\[native code\]\s*\}$/.test(Function.prototype.toString.call(callback));
}

function runCheck(callback: () => void): void {
  inDawnCheck = true;
  try {
    callback();
  } finally {
    inDawnCheck = false;
  }
}

const throttled = function setImmediate(callback: unknown, ...args: unknown[]) {
  if (intervalMs > 0 && isDawnCheck(callback, args)) {
    if (inDawnCheck) return setTimeout(runCheck, intervalMs, callback);
    return original(runCheck, callback);
  }
  return (original as (cb: unknown, ...a: unknown[]) => ReturnType<Immediate>)(callback, ...args);
} as Immediate;
// util.promisify(setImmediate) keeps working through the wrapper.
const promisified = Symbol.for('nodejs.util.promisify.custom');
Object.defineProperty(throttled, promisified, { get: () => (original as unknown as Record<symbol, unknown>)[promisified] });

/**
 * Sets how long Dawn's binding waits between checks for finished GPU work (ms, > 0), or with 0
 * lets it check continuously again (its own behaviour). Applies to the whole process.
 */
export function setDawnPollInterval(ms: number): void {
  if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`pollIntervalMs must be a finite number >= 0, got ${ms}`);
  intervalMs = ms;
  if (ms > 0) globalThis.setImmediate = throttled;
  else if (globalThis.setImmediate === throttled) globalThis.setImmediate = original;
}

/** The interval in effect (0: the binding's own continuous checking). */
export function dawnPollInterval(): number {
  return globalThis.setImmediate === throttled ? intervalMs : 0;
}
