/** Shared test utilities: seeds, random data, the relative-error measure and ReLU-kink exclusion. */
import { Rng } from '../src/rng.js';
import { referenceForward, type Tensors64 } from '../src/reference/model.js';
import type { ModelSpec } from '../src/spec.js';
import type { Batch } from '../src/trainer.js';

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

/**
 * The seeds caseSeed handed out, in order: while a test runs (`inTest`, which test/seed-report.ts
 * sets around each test) into `test`, which it empties before each test, and otherwise (describe
 * blocks, beforeAll) into `outside`, which it empties per test file; it prints both when a test
 * fails, so every randomized test's failure names its seeds, wherever the failing check is. (On
 * globalThis: the setup file and a test file may hold separate instances of this module.)
 */
export const seedLog: { inTest: boolean; test: number[]; outside: number[] } = ((globalThis as { __pleSeedLog?: typeof seedLog }).__pleSeedLog ??= {
  inTest: false,
  test: [],
  outside: [],
});

/** A fresh seed per case, taken from the environment when reproducing a failure. */
export function caseSeed(label: string): number {
  const fixed = process.env.PLE_TEST_SEED;
  let h = Date.now() >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619) >>> 0;
  const seed = fixed ? Number(fixed) : h;
  (seedLog.inTest ? seedLog.test : seedLog.outside).push(seed);
  return seed;
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

/**
 * Counts the thread-pool dispatches of a CPU engine from now on, so a test on several threads can
 * check that the work really went to the pool (the engine keeps its pool private: reached here by
 * name). Throws when the engine has no pool.
 */
export function countPoolDispatches(engine: object): () => number {
  const pool = (engine as { pool?: { run: (parts: readonly (readonly unknown[])[]) => void } }).pool;
  if (!pool) throw new Error('this engine runs on one thread: it has no thread pool');
  const run = pool.run.bind(pool);
  let dispatches = 0;
  pool.run = (parts) => {
    dispatches++;
    run(parts);
  };
  return () => dispatches;
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

/** Runs `f`; an error it throws gets the seed and how to replay it, so every failure of a randomized test names its seed. */
export async function withSeed<T>(seed: number, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    const note = `(seed ${seed}; rerun with PLE_TEST_SEED=${seed})`;
    if (e instanceof Error && !e.message.includes(note)) e.message += `\n${note}`;
    throw e;
  }
}

/**
 * The batch with every row that has a ReLU pre-activation within f32 rounding of zero (the float64
 * reference's nearKinks, for these parameters) masked out for all tasks: such a row may take the
 * other side of the kink on the GPU, so its share of the gradients is not comparable; masked, it has
 * none. Returns the rows excluded (usually none).
 */
export function excludeNearKinks(spec: ModelSpec, params: Tensors64, batch: Batch): { batch: Batch; excluded: number[] } {
  const rows = [...new Set(referenceForward(spec, params, batch).nearKinks.map((k) => k.row))].sort((a, b) => a - b);
  if (rows.length === 0) return { batch, excluded: [] };
  const K = spec.numTasks;
  const mask = Float32Array.from({ length: batch.rows * K }, (_, i) => (batch.mask ? Number(batch.mask[i]) : 1));
  for (const r of rows) mask.fill(0, r * K, (r + 1) * K);
  return { batch: { ...batch, mask }, excluded: rows };
}
