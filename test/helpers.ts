/** Shared test utilities: seeds, random data and the relative-error measure. */
import { Rng } from '../src/rng.js';

/** ||a - b|| / ||b||; (or ||a|| when b is zero). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (!Number.isFinite(num)) return Infinity;
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** A fresh seed per case, taken from the environment when reproducing a failure. */
export function caseSeed(label: string): number {
  const fixed = process.env.PLE_TEST_SEED;
  if (fixed) return Number(fixed);
  let h = Date.now() >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619) >>> 0;
  return h;
}

export function randomArray(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** Throws with the seed in the message, so a failure can be replayed with PLE_TEST_SEED. */
export function expectClose(label: string, seed: number, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): number {
  const err = relativeError(got, want);
  if (!(err <= tol)) {
    throw new Error(`${label}: relative error ${err.toExponential(3)} > ${tol} (seed ${seed}; rerun with PLE_TEST_SEED=${seed})`);
  }
  return err;
}

/** Runs `f`, asserts it throws an instance of `kind`, and returns the error. */
export function thrownBy<E extends Error>(kind: new (...args: never[]) => E, f: () => unknown): E {
  try {
    f();
  } catch (e) {
    if (!(e instanceof kind)) throw new Error(`expected a ${kind.name}, got ${String(e)}`);
    return e;
  }
  throw new Error(`expected a ${kind.name}, but nothing was thrown`);
}
