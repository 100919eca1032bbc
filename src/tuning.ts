/**
 * Per-adapter tuning of the batched expert GEMM (shaders/batched_gemm.wgsl).
 *
 * The kernel's register tile (tileM x tileN per invocation) and workgroup shape
 * (wgX x wgY) are specialisation constants. What is fastest depends on the
 * adapter (a software rasteriser wants large register tiles; a discrete GPU wants
 * enough workgroups to fill its cores) and on the shapes. `tuneGemm` times each
 * candidate once on the adapter over the GEMMs a training step of the plan runs
 * (the plan's own GEMM ops, src/layers/: their names, operand layouts and sizes, laid
 * out in scratch buffers), picks the fastest, and remembers the choice in a cache keyed by the adapter's description
 * and the shapes. The result goes into `Trainer.create(ctx, config, { gemmTuning })`.
 * `tuneGemmPerDispatch` (what the CLI plans with) instead keeps the fastest candidate for each GEMM
 * timed alone: a thin GEMM (a gate's or a tower output's) wants other tiles than the experts' wide
 * ones. Each GEMM timed alone is a noisy guide to the step (measured in a page, such a set ran the step's
 * GEMMs 18% slower than one tuning for all), so it then times the step's GEMMs together with that set
 * and with the best single tuning, and keeps the faster.
 *
 * The cache is in memory; `TuningCache.toJSON` / `TuningCache.fromJSON` let a
 * caller persist it (localStorage, a file).
 */
import type { GpuContext, AdapterReport } from './gpu/context.js';
import type { ModelConfig } from './config.js';
import { buildSpec, type ModelSpec } from './spec.js';
import { gemmDispatch, gemmGrid, gemmSubgroupMismatch, gemmTuningFor, type GemmEntry, type GemmShape, type GemmTuning, type GemmTuningChooser } from './kernels/batched_gemm.js';
import { encodeOps, type Dispatch, type Op } from './kernels/dispatch.js';
import { describeStep, stepGemms } from './layers/model.js';
import { checkPlanLimits, planAlignment } from './plan.js';

export type { GemmShape, GemmTuningChooser };

/** Candidates tried by default: register tiles and workgroup shapes that cover CPUs and GPUs. */
export const defaultGemmCandidates: readonly GemmTuning[] = [
  { tileM: 8, tileN: 8, wgX: 8, wgY: 8 },
  { tileM: 4, tileN: 4, wgX: 8, wgY: 8 },
  { tileM: 8, tileN: 4, wgX: 8, wgY: 8 },
  { tileM: 4, tileN: 8, wgX: 8, wgY: 8 },
  { tileM: 4, tileN: 4, wgX: 16, wgY: 16 },
  { tileM: 2, tileN: 2, wgX: 16, wgY: 16 },
  { tileM: 8, tileN: 8, wgX: 16, wgY: 4 },
  { tileM: 1, tileN: 1, wgX: 16, wgY: 16 },
  { tileM: 1, tileN: 1, wgX: 16, wgY: 16, workgroupMemory: true },
  { tileM: 1, tileN: 1, wgX: 8, wgY: 8, workgroupMemory: true },
  // For CPU-backed adapters (SwiftShader runs an invocation as one of 4 SIMD lanes): a workgroup of
  // 4 invocations with large tiles; narrow ones for the thin GEMMs (gates, tower outputs). Tiles of
  // 16x8 measured no faster than 8x8 over bench-small's GEMMs and take ~10 s to compile there.
  { tileM: 8, tileN: 8, wgX: 4, wgY: 1 },
  { tileM: 8, tileN: 4, wgX: 4, wgY: 1 },
  { tileM: 8, tileN: 2, wgX: 2, wgY: 2 },
  { tileM: 4, tileN: 1, wgX: 1, wgY: 4 },
  // Where the device has subgroups of 4 (SwiftShader): the invocations of a one-row workgroup share
  // their A loads through subgroupBroadcast. Over bench-small's GEMMs ~15% less time than the same
  // tiles without (up to ~25% on a large GEMM alone, nothing on the thinnest); kept where it times fastest.
  { tileM: 8, tileN: 8, wgX: 4, wgY: 1, subgroupSize: 4 },
  { tileM: 8, tileN: 4, wgX: 4, wgY: 1, subgroupSize: 4 },
];

export function tuningKey(t: GemmTuning): string {
  return `${t.tileM}x${t.tileN}${t.vecN && t.vecN > 1 ? `v${t.vecN}` : ''}/${t.wgX}x${t.wgY}${t.workgroupMemory ? ' shared' : ''}${t.subgroupSize ? ` subgroup${t.subgroupSize}` : ''}`;
}

/**
 * The batched GEMMs of a model's training step at `batchSize`, in encoding order: exactly the
 * plan's GEMM ops (its layers describe both), by name, operand layout and entry sizes.
 */
export function stepGemmShapes(spec: ModelSpec, batchSize: number, align = 1): GemmShape[] {
  return stepGemms(describeStep(spec, batchSize, align)).map(({ name, layout, entries }) => ({ name, layout, entries: entries.map(({ m, n, k }) => ({ m, n, k })) }));
}

/** Floating-point operations (2 m n k per entry) of a list of shapes. */
export function gemmFlops(shapes: readonly GemmShape[]): number {
  return shapes.reduce((a, s) => a + s.entries.reduce((b, e) => b + 2 * e.m * e.n * e.k, 0), 0);
}

/**
 * GEMM entries laid out contiguously in three scratch arrays, with the strides
 * the planner uses for the shape's kind. Returns the entries and each array's length.
 */
export function layoutShape(shape: GemmShape): { entries: GemmEntry[]; aLen: number; bLen: number; cLen: number } {
  let aLen = 0;
  let bLen = 0;
  let cLen = 0;
  const entries = shape.entries.map(({ m, n, k }) => {
    // forward: A [m, k], B [k, n]; dX: A [m, k], B^T stored as [n, k]; dW: A^T stored as [k, m], B [k, n].
    const a = shape.layout === 'dW' ? { aRow: 1, aCol: m } : { aRow: k, aCol: 1 };
    const b = shape.layout === 'dX' ? { bRow: 1, bCol: k } : { bRow: n, bCol: 1 };
    const e: GemmEntry = { m, n, k, aOff: aLen, ...a, bOff: bLen, ...b, cOff: cLen, cRow: n };
    aLen += m * k;
    bLen += k * n;
    cLen += m * n;
    return e;
  });
  return { entries, aLen, bLen, cLen };
}

/** Whether the device can run a tuning at these shapes (workgroup size and grid limits; subgroup size). */
export function tuningFits(ctx: GpuContext, t: GemmTuning, shapes: readonly GemmShape[]): boolean {
  if (gemmSubgroupMismatch(ctx, t)) return false;
  const L = ctx.limits;
  if (t.wgX * t.wgY > L.maxComputeInvocationsPerWorkgroup || t.wgX > L.maxComputeWorkgroupSizeX || t.wgY > L.maxComputeWorkgroupSizeY) return false;
  return shapes.every((s) => gemmGrid(layoutShape(s).entries, t).every((n) => n <= L.maxComputeWorkgroupsPerDimension));
}

export interface TuningTiming {
  tuning: GemmTuning;
  /** Best wall time of one pass over all shapes, in ms. */
  ms: number;
  gflops: number;
}

export interface TuningResult {
  tuning: GemmTuning;
  /** True when the choice came from the cache and nothing was timed. */
  fromCache: boolean;
  /** Every candidate timed (empty when from the cache), fastest first. */
  timings: TuningTiming[];
  key: string;
}

interface CachedChoice {
  tuning: GemmTuning;
  timings: TuningTiming[];
}

/**
 * Which of a per-dispatch set and the best single tuning ran a step's GEMMs faster together
 * (tuneGemmPerDispatch), with both rates: what the cache remembers so a later run times nothing.
 */
export interface GemmSetDecision {
  winner: 'perDispatch' | 'single';
  /** The best single tuning over all the shapes. */
  single: GemmTuning;
  /** The per-dispatch set the single was timed against: each shape's tuningKey, in the shapes' order. */
  perDispatch: string[];
  /** GFLOP/s over all the shapes timed together, with the per-dispatch set and with the single tuning. */
  perDispatchGflops: number;
  singleGflops: number;
}

/** Prefix of the cache keys of set decisions (a choice's key starts with the adapter's vendor). */
const DECISION_PREFIX = 'per dispatch or single#';

/**
 * Tuning choices by adapter description and shapes, and per-dispatch-or-single decisions by adapter
 * description and the step's shapes. The JSON form maps each choice's key to its tuning, as it
 * always has, and each decision's key (prefixed `per dispatch or single#`) to the decision.
 */
export class TuningCache {
  private readonly entries = new Map<string, CachedChoice>();
  private readonly decisions = new Map<string, GemmSetDecision>();

  static key(adapter: AdapterReport, shapes: readonly GemmShape[]): string {
    const a = [adapter.vendor, adapter.architecture, adapter.device, adapter.description].join('|');
    const s = shapes.map((x) => `${x.layout}:${x.entries.map((e) => `${e.m}x${e.n}x${e.k}`).join(',')}`).join(';');
    return `${a}#${s}`;
  }

  /** The key of the per-dispatch-or-single decision for a step's shapes on an adapter. */
  static decisionKey(adapter: AdapterReport, shapes: readonly GemmShape[]): string {
    return DECISION_PREFIX + TuningCache.key(adapter, shapes);
  }

  get(key: string): CachedChoice | undefined {
    return this.entries.get(key);
  }

  set(key: string, choice: CachedChoice): void {
    this.entries.set(key, choice);
  }

  getDecision(key: string): GemmSetDecision | undefined {
    return this.decisions.get(key);
  }

  setDecision(key: string, decision: GemmSetDecision): void {
    this.decisions.set(key, decision);
  }

  /** The number of tuning choices (decisions not counted). */
  get size(): number {
    return this.entries.size;
  }

  toJSON(): Record<string, GemmTuning | GemmSetDecision> {
    return Object.fromEntries([...[...this.entries].map(([k, v]) => [k, v.tuning] as const), ...this.decisions]);
  }

  /** Reads what toJSON wrote, or a cache written before decisions were kept (choices only). */
  static fromJSON(data: Record<string, unknown>): TuningCache {
    const cache = new TuningCache();
    for (const [k, value] of Object.entries(data)) {
      if (k.startsWith(DECISION_PREFIX)) cache.setDecision(k, checkDecision(k, value));
      else cache.set(k, { tuning: value as GemmTuning, timings: [] });
    }
    return cache;
  }
}

function checkDecision(key: string, value: unknown): GemmSetDecision {
  const d = value as Partial<GemmSetDecision> | null;
  const bad = (field: string, want: string) => new Error(`GEMM tuning cache entry "${key}": ${field} must be ${want}`);
  if (typeof d !== 'object' || d === null) throw bad('the entry', 'an object');
  if (d.winner !== 'perDispatch' && d.winner !== 'single') throw bad('winner', '"perDispatch" or "single"');
  if (typeof d.single !== 'object' || d.single === null) throw bad('single', 'a tuning');
  if (!Array.isArray(d.perDispatch) || !d.perDispatch.every((x) => typeof x === 'string')) throw bad('perDispatch', 'a list of tuning keys');
  for (const field of ['perDispatchGflops', 'singleGflops'] as const) if (!(typeof d[field] === 'number' && d[field] > 0)) throw bad(field, 'a positive number');
  return d as GemmSetDecision;
}

/** The cache used when a caller passes none (one per page or process). */
export const sharedTuningCache = new TuningCache();

export interface TuneOptions {
  /** Candidates to time; default: the adapter's default tuning (gemmTuningFor) and `defaultGemmCandidates`. */
  candidates?: readonly GemmTuning[];
  /** Timed passes per candidate after one untimed pass; the best is kept. Default 3. */
  repeats?: number;
  cache?: TuningCache;
  /** Time every candidate even when the cache has a choice (the new choice replaces it). */
  force?: boolean;
  /** Called after each candidate is timed (progress on slow adapters). */
  onTiming?: (timing: TuningTiming) => void;
  /**
   * Times shapes together in one command buffer, as in a step (default `timeGemms`): how tuneGemm
   * times each candidate and tuneGemmPerDispatch its set against the best single tuning.
   */
  timeGemms?: typeof timeGemms;
}

/**
 * Times every candidate on the adapter over `shapes` (one command buffer holding
 * one dispatch per shape, as in a training step) and returns the fastest.
 */
export async function tuneGemm(ctx: GpuContext, shapes: readonly GemmShape[], options: TuneOptions = {}): Promise<TuningResult> {
  if (shapes.length === 0) throw new Error('tuneGemm: no shapes');
  const cache = options.cache ?? sharedTuningCache;
  const key = TuningCache.key(ctx.adapter, shapes);
  const cached = cache.get(key);
  // A cached choice this device cannot run (a subgroup variant on a device opened without subgroups) is timed again.
  if (cached && !options.force && tuningFits(ctx, cached.tuning, shapes)) return { tuning: cached.tuning, fromCache: true, timings: cached.timings, key };

  const seen = new Set<string>();
  const listed = options.candidates ?? [gemmTuningFor(ctx.adapter), ...defaultGemmCandidates];
  const candidates = listed.filter((t) => {
    const k = tuningKey(t);
    if (seen.has(k) || !tuningFits(ctx, t, shapes)) return false;
    seen.add(k);
    return true;
  });
  if (candidates.length === 0) throw new Error('tuneGemm: no candidate fits the device limits');

  const flops = gemmFlops(shapes);
  const repeats = options.repeats ?? 3;
  const timings: TuningTiming[] = [];
  for (const tuning of candidates) {
    // A candidate whose first pass is already 3x slower than the best so far cannot win: not repeated.
    const best = await (options.timeGemms ?? timeGemms)(ctx, shapes, tuning, repeats, 3 * Math.min(Infinity, ...timings.map((t) => t.ms)));
    const timing = { tuning, ms: best, gflops: flops / best / 1e6 };
    timings.push(timing);
    options.onTiming?.(timing);
  }
  timings.sort((x, y) => x.ms - y.ms);
  const choice = { tuning: timings[0].tuning, timings };
  cache.set(key, choice);
  return { ...choice, fromCache: false, key };
}

/** Tunes for the GEMMs of a model's training step at `batchSize` (what `Trainer.create` then plans). */
export async function tuneGemmForModel(ctx: GpuContext, config: ModelConfig, batchSize: number, options: TuneOptions = {}): Promise<TuningResult> {
  const spec = buildSpec(config);
  // A plan over the device limits gets the planner's message (the largest batch that fits), not "no candidate fits".
  checkPlanLimits(ctx, spec, batchSize);
  return tuneGemm(ctx, stepGemmShapes(spec, batchSize, planAlignment(ctx)), options);
}

export interface PerShapeTuningResult {
  /** Fastest variant for each GEMM (by name), and its time alone. */
  choices: Map<string, { shape: GemmShape; tuning: GemmTuning; ms: number }>;
  /** The tuning timed fastest for a GEMM; throws for a GEMM (name and sizes) that was not timed. */
  choose: GemmTuningChooser;
  /** The best single tuning over all shapes. */
  fallback: GemmTuning;
  /** Sum over shapes of the best time per shape, and of the best single tuning's times. */
  perShapeMs: number;
  singleMs: number;
}

export function shapeKey(entries: readonly { m: number; n: number; k: number }[]): string {
  return entries.map((e) => `${e.m}x${e.n}x${e.k}`).join(',');
}

/**
 * Times every candidate on each shape alone and keeps the fastest per shape.
 * A plan takes `choose` as its gemmTuning (one tuning per dispatch); on SwiftShader it cuts bench-small's GEMM time by
 * ~20-30% against the best single tuning (results/bench.md). Not cached; tuneGemmPerDispatch caches its choices.
 */
export async function tuneGemmPerShape(ctx: GpuContext, shapes: readonly GemmShape[], options: Omit<TuneOptions, 'cache' | 'force' | 'timeGemms'> = {}): Promise<PerShapeTuningResult> {
  const listed = options.candidates ?? [gemmTuningFor(ctx.adapter), ...defaultGemmCandidates];
  const candidates = listed.filter((t, i) => listed.findIndex((u) => tuningKey(u) === tuningKey(t)) === i);
  const repeats = options.repeats ?? 3;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const times = new Map<string, number>(); // tuningKey -> total over shapes
  const choices = new Map<string, { shape: GemmShape; tuning: GemmTuning; ms: number }>();
  let perShapeMs = 0;
  for (const shape of shapes) {
    const { entries, aLen, bLen, cLen } = layoutShape(shape);
    const a = ctx.createBuffer('tuning A', Math.max(1, aLen) * 4, usage);
    const b = ctx.createBuffer('tuning B', Math.max(1, bLen) * 4, usage);
    const c = ctx.createBuffer('tuning C', Math.max(1, cLen) * 4, usage);
    let best: { tuning: GemmTuning; ms: number } | null = null;
    try {
      for (const tuning of candidates) {
        if (!tuningFits(ctx, tuning, [shape])) continue;
        const d = await gemmDispatch(ctx, `tune ${shape.name}`, entries, { a, b, c }, tuning);
        const ops: Op[] = [{ kind: 'dispatch', dispatch: d }];
        try {
          // As in tuneGemm: a first pass 3x slower than this shape's best so far is not repeated.
          const ms = await bestTime(ctx, ops, repeats, 3 * (best?.ms ?? Infinity));
          const key = tuningKey(tuning);
          times.set(key, (times.get(key) ?? 0) + ms);
          options.onTiming?.({ tuning, ms, gflops: gemmFlops([shape]) / ms / 1e6 });
          if (!best || ms < best.ms) best = { tuning, ms };
        } finally {
          d.owned.forEach((x) => ctx.destroyBuffer(x));
        }
      }
    } finally {
      [a, b, c].forEach((x) => ctx.destroyBuffer(x));
    }
    if (!best) throw new Error(`tuneGemmPerShape: no candidate fits ${shape.name}`);
    if (choices.has(shape.name)) throw new Error(`tuneGemmPerShape: two shapes are named ${shape.name}`);
    choices.set(shape.name, { shape, ...best });
    perShapeMs += best.ms;
  }
  // The fallback must fit every shape: candidates timed on all of them.
  const complete = [...times].filter(([key]) => candidates.some((t) => tuningKey(t) === key && tuningFits(ctx, t, shapes)));
  if (complete.length === 0) throw new Error('tuneGemmPerShape: no candidate fits every shape (no single tuning to fall back to)');
  const [fallbackKey, singleMs] = complete.sort((x, y) => x[1] - y[1])[0];
  const fallback = candidates.find((t) => tuningKey(t) === fallbackKey)!;
  const choose: GemmTuningChooser = (gemm) => {
    const choice = choices.get(gemm.name);
    if (!choice || shapeKey(choice.shape.entries) !== shapeKey(gemm.entries)) {
      throw new Error(`tuneGemmPerShape: GEMM ${gemm.name} (${shapeKey(gemm.entries)}) was not timed; tune the shapes of the plan it is used for`);
    }
    return choice.tuning;
  };
  return { choices, choose, fallback, perShapeMs, singleMs };
}

/**
 * Times `shapes` laid out in scratch buffers as one command buffer of one dispatch per shape (as in
 * a training step), each with the tuning given or chosen for it: the best of `repeats` passes after
 * an untimed one (only that one when it exceeds `cutoffMs`), in ms.
 */
export async function timeGemms(ctx: GpuContext, shapes: readonly GemmShape[], tuning: GemmTuning | GemmTuningChooser, repeats = 3, cutoffMs = Infinity): Promise<number> {
  const choose: GemmTuningChooser = typeof tuning === 'function' ? tuning : () => tuning;
  const laid = shapes.map(layoutShape);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const fill = (n: number) => Float32Array.from({ length: Math.max(1, n) }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const a = ctx.createDataBuffer('tuning A', fill(Math.max(...laid.map((l) => l.aLen))), usage);
  const b = ctx.createDataBuffer('tuning B', fill(Math.max(...laid.map((l) => l.bLen))), usage);
  const c = ctx.createBuffer('tuning C', Math.max(1, ...laid.map((l) => l.cLen)) * 4, usage);
  const dispatches: Dispatch[] = [];
  try {
    for (const [i, l] of laid.entries()) dispatches.push(await gemmDispatch(ctx, `tune ${shapes[i].name}`, l.entries, { a, b, c }, choose(shapes[i])));
    return await bestTime(ctx, dispatches.map((dispatch) => ({ kind: 'dispatch', dispatch })), repeats, cutoffMs);
  } finally {
    for (const d of dispatches) for (const buf of d.owned) ctx.destroyBuffer(buf);
    [a, b, c].forEach((x) => ctx.destroyBuffer(x));
  }
}

export interface PerDispatchTuningResult {
  /** The per-dispatch set: each GEMM's fastest tuning timed alone, by name. */
  tunings: Map<string, GemmTuning>;
  /** The per-dispatch set as a chooser: each GEMM's own tuning; throws for a GEMM (name, layout and sizes) that was not tuned. */
  perDispatch: GemmTuningChooser;
  /** The best single tuning over all the shapes (it fits every one). */
  single: GemmTuning;
  /** Which ran all the shapes faster together (one command buffer, as in a step): the per-dispatch set or the single tuning. */
  winner: 'perDispatch' | 'single';
  /** GFLOP/s over all the shapes timed together, with the per-dispatch set and with the single tuning. */
  perDispatchGflops: number;
  singleGflops: number;
  /**
   * What a plan takes as its gemmTuning: the winner's tuning for each GEMM (its own with the
   * per-dispatch set, `single` otherwise); throws for a GEMM (name, layout and sizes) that was not tuned.
   */
  choose: GemmTuningChooser;
  /** True when every GEMM's choice and the decision came from the cache and nothing was timed. */
  fromCache: boolean;
}

/**
 * One tuning per GEMM dispatch, checked against one tuning for all: each shape's fastest candidate
 * timed alone (tuneGemmPerShape), remembered in the cache per adapter and shape (the key tuneGemm
 * gives that shape alone); then all the shapes timed together (one command buffer, as in a step)
 * with that set and with the best single tuning, and the faster kept (`winner`, `choose`). The best
 * single is tuneGemmPerShape's fallback when every shape was timed in this call; when some choices
 * came from the cache, the best candidate over all the shapes together (tuneGemm, cached under its own
 * key). The decision is cached per adapter and shapes, against the set it was made for, so a later
 * run times only what it has not seen: shapes without a choice, and the decision when it is missing
 * or the set changed.
 */
export async function tuneGemmPerDispatch(ctx: GpuContext, shapes: readonly GemmShape[], options: TuneOptions = {}): Promise<PerDispatchTuningResult> {
  if (shapes.length === 0) throw new Error('tuneGemmPerDispatch: no shapes');
  const cache = options.cache ?? sharedTuningCache;
  const keyOf = (shape: GemmShape) => TuningCache.key(ctx.adapter, [shape]);
  const fits = (shape: GemmShape) => {
    const cached = cache.get(keyOf(shape));
    return cached !== undefined && tuningFits(ctx, cached.tuning, [shape]);
  };
  // As in tuneGemm, a cached choice this device cannot run is timed again.
  const missing = shapes.filter((shape) => options.force || !fits(shape));
  // Identical shapes (same layout and sizes) are timed once.
  const toTime = missing.filter((shape, i) => missing.findIndex((x) => keyOf(x) === keyOf(shape)) === i);
  let fallback: GemmTuning | undefined;
  if (toTime.length > 0) {
    const timed = await tuneGemmPerShape(ctx, toTime, { candidates: options.candidates, repeats: options.repeats, onTiming: options.onTiming });
    for (const { shape, tuning, ms } of timed.choices.values()) cache.set(keyOf(shape), { tuning, timings: [{ tuning, ms, gflops: gemmFlops([shape]) / ms / 1e6 }] });
    if (missing.length === shapes.length) fallback = timed.fallback;
  }
  const tunings = new Map(shapes.map((shape) => [shape.name, cache.get(keyOf(shape))!.tuning]));
  const perDispatch: GemmTuningChooser = (gemm) => {
    const shape = shapes.find((s) => s.name === gemm.name);
    if (!shape || shapeKey(shape.entries) !== shapeKey(gemm.entries) || shape.layout !== gemm.layout) {
      throw new Error(`tuneGemmPerDispatch: GEMM ${gemm.name} (${shapeKey(gemm.entries)}) was not tuned; tune the shapes of the plan it is used for`);
    }
    return tunings.get(gemm.name)!;
  };

  const setKeys = shapes.map((shape) => tuningKey(tunings.get(shape.name)!));
  const decisionKey = TuningCache.decisionKey(ctx.adapter, shapes);
  const cached = cache.getDecision(decisionKey);
  // A decision made against another set, or whose single this device cannot run, is made again.
  const valid = cached && !options.force && cached.perDispatch.join(';') === setKeys.join(';') && tuningFits(ctx, cached.single, shapes);
  let decision: GemmSetDecision;
  if (valid) decision = cached;
  else {
    const single = fallback ?? (await tuneGemm(ctx, shapes, options)).tuning;
    const time = options.timeGemms ?? timeGemms;
    const repeats = options.repeats ?? 3;
    const perDispatchMs = await time(ctx, shapes, perDispatch, repeats);
    // A set that is the single tuning everywhere is timed once.
    const singleMs = setKeys.every((k) => k === tuningKey(single)) ? perDispatchMs : await time(ctx, shapes, single, repeats);
    const flops = gemmFlops(shapes);
    decision = { winner: perDispatchMs <= singleMs ? 'perDispatch' : 'single', single, perDispatch: setKeys, perDispatchGflops: flops / perDispatchMs / 1e6, singleGflops: flops / singleMs / 1e6 };
    cache.setDecision(decisionKey, decision);
  }
  const { winner, single } = decision;
  // The single tuning's chooser still refuses a GEMM that was not tuned.
  const choose: GemmTuningChooser = winner === 'perDispatch' ? perDispatch : (gemm) => {
    perDispatch(gemm);
    return single;
  };
  return { tunings, perDispatch, single, winner, perDispatchGflops: decision.perDispatchGflops, singleGflops: decision.singleGflops, choose, fromCache: toTime.length === 0 && !!valid };
}

/** Per-dispatch tuning for the GEMMs of a model's training step at `batchSize` (a chooser for `Trainer.create`). */
export async function tuneGemmPerDispatchForModel(ctx: GpuContext, config: ModelConfig, batchSize: number, options: TuneOptions = {}): Promise<PerDispatchTuningResult> {
  const spec = buildSpec(config);
  checkPlanLimits(ctx, spec, batchSize);
  return tuneGemmPerDispatch(ctx, stepGemmShapes(spec, batchSize, planAlignment(ctx)), options);
}

/**
 * The best of `repeats` timed runs of `ops` (submit and wait), after a first run; when that first
 * run already takes longer than `cutoffMs`, its time is returned without repeats.
 */
async function bestTime(ctx: GpuContext, ops: Op[], repeats: number, cutoffMs = Infinity): Promise<number> {
  const pass = async () => {
    const encoder = ctx.device.createCommandEncoder({ label: 'gemm tuning' });
    encodeOps(encoder, ops, 'gemm tuning');
    ctx.device.queue.submit([encoder.finish()]);
    await ctx.device.queue.onSubmittedWorkDone();
  };
  const t0 = performance.now();
  await pass();
  const first = performance.now() - t0;
  if (first > cutoffMs) return first;
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await pass();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}
