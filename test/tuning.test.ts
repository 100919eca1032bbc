/**
 * src/tuning.ts: the GEMM tuner picks one of its candidates, every candidate is exact, the per-dispatch
 * set is kept only where it runs the step's GEMMs faster than the best single tuning, and the cache skips re-timing.
 */
import { describe, expect, it } from 'vitest';
import { gemmDispatch, type GemmTuning } from '../src/kernels/batched_gemm.js';
import { gemmReference } from '../src/reference/batched_gemm.js';
import { ple } from '../src/config.js';
import { buildSpec } from '../src/spec.js';
import { Rng } from '../src/rng.js';
import { LimitError } from '../src/limits.js';
import {
  TuningCache, gemmFlops, layoutShape, stepGemmShapes, timeGemms, tuneGemm, tuneGemmForModel, tuneGemmPerDispatch, tuneGemmPerShape, tuningKey,
  type GemmShape, type GemmTuningChooser, type TuneOptions, type TuningTiming,
} from '../src/tuning.js';
import { caseSeed, expectClose, randomArray } from './helpers.js';
import { download, noSubgroupsContext, run, testContext, upload } from './gpu.js';

// Tiny shapes, odd sizes so every tiling has partial tiles; one of each operand layout.
const shapes: GemmShape[] = [
  { name: 'forward', layout: 'forward', entries: [{ m: 13, n: 10, k: 7 }, { m: 13, n: 6, k: 7 }] },
  { name: 'dX', layout: 'dX', entries: [{ m: 13, n: 7, k: 10 }, { m: 13, n: 7, k: 6 }] },
  { name: 'dW', layout: 'dW', entries: [{ m: 7, n: 10, k: 13 }, { m: 7, n: 6, k: 13 }] },
];

const candidates: GemmTuning[] = [
  { tileM: 1, tileN: 1, wgX: 8, wgY: 8 },
  { tileM: 2, tileN: 2, wgX: 4, wgY: 4 },
  { tileM: 4, tileN: 2, wgX: 8, wgY: 4 },
];

describe('GEMM tuning', () => {
  it('every candidate matches the float64 reference at every shape', async () => {
    const ctx = await testContext();
    for (const shape of shapes) {
      const seed = caseSeed(`tuning ${shape.name}`);
      const rng = new Rng(seed);
      const { entries, aLen, bLen, cLen } = layoutShape(shape);
      const a = randomArray(rng, aLen);
      const b = randomArray(rng, bLen);
      const want = new Float64Array(cLen);
      gemmReference(entries, a, b, want);
      const aBuf = upload(ctx, a, 'A');
      const bBuf = upload(ctx, b, 'B');
      for (const tuning of candidates) {
        const cBuf = upload(ctx, new Float32Array(cLen).fill(NaN), 'C');
        const d = await gemmDispatch(ctx, `tuning ${shape.name}`, entries, { a: aBuf, b: bBuf, c: cBuf }, tuning);
        await run(ctx, [d]);
        expectClose(`${shape.name} with ${tuningKey(tuning)}`, seed, await download(ctx, cBuf, cLen), want, 1e-5);
        for (const x of [cBuf, ...d.owned]) ctx.destroyBuffer(x);
      }
      ctx.destroyBuffer(aBuf);
      ctx.destroyBuffer(bBuf);
    }
  });

  it('returns one of the candidates, and the cache answers again without timing', async () => {
    const ctx = await testContext();
    const cache = new TuningCache();
    const liveBefore = ctx.liveBufferCount;
    const timed: TuningTiming[] = [];
    const first = await tuneGemm(ctx, shapes, { candidates, cache, repeats: 1, onTiming: (t) => timed.push(t) });
    expect(first.fromCache).toBe(false);
    expect(timed.length).toBe(candidates.length);
    expect(candidates.map(tuningKey)).toContain(tuningKey(first.tuning));
    expect(first.timings[0].tuning).toEqual(first.tuning);
    expect(first.timings.every((t) => t.ms > 0 && Number.isFinite(t.gflops))).toBe(true);
    expect(ctx.liveBufferCount).toBe(liveBefore); // scratch buffers and descriptor tables freed

    const again = await tuneGemm(ctx, shapes, { candidates, cache, onTiming: (t) => timed.push(t) });
    expect(again.fromCache).toBe(true);
    expect(again.tuning).toEqual(first.tuning);
    expect(timed.length).toBe(candidates.length); // nothing re-timed

    // Persisted and restored, the choice is still served without timing.
    const restored = TuningCache.fromJSON(JSON.parse(JSON.stringify(cache.toJSON())));
    const third = await tuneGemm(ctx, shapes, { candidates, cache: restored, onTiming: (t) => timed.push(t) });
    expect(third.fromCache).toBe(true);
    expect(third.tuning).toEqual(first.tuning);
    expect(timed.length).toBe(candidates.length);
  });

  it('per-shape tuning picks a candidate for every shape and falls back to the best single one', async () => {
    const ctx = await testContext();
    const liveBefore = ctx.liveBufferCount;
    const timed: { tuning: GemmTuning; ms: number }[] = [];
    const r = await tuneGemmPerShape(ctx, shapes, { candidates, repeats: 1, onTiming: (t) => timed.push(t) });
    expect(r.choices.size).toBe(shapes.length);
    // Every candidate fits these small shapes: timed shape by shape, candidate by candidate.
    expect(timed.length).toBe(shapes.length * candidates.length);
    const timesOf = (s: number) => timed.slice(s * candidates.length, (s + 1) * candidates.length);
    shapes.forEach((shape, s) => {
      // The choice is the fastest timing of its shape, with that timing's tuning.
      const fastest = timesOf(s).reduce((a, b) => (b.ms < a.ms ? b : a));
      const choice = r.choices.get(shape.name)!;
      expect(choice.ms).toBe(fastest.ms);
      expect(tuningKey(choice.tuning)).toBe(tuningKey(fastest.tuning));
    });
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(r.perShapeMs).toBeCloseTo(sum(shapes.map((shape) => r.choices.get(shape.name)!.ms)), 9);
    // The fallback is the candidate with the least time summed over all shapes, and singleMs that sum.
    const totals = candidates.map((_, c) => sum(shapes.map((_, s) => timesOf(s)[c].ms)));
    const best = totals.indexOf(Math.min(...totals));
    expect(tuningKey(r.fallback)).toBe(tuningKey(candidates[best]));
    expect(r.singleMs).toBeCloseTo(totals[best], 9);
    const keys = candidates.map(tuningKey);
    for (const shape of shapes) {
      const choice = r.choices.get(shape.name)!;
      expect(keys).toContain(tuningKey(choice.tuning));
      expect(r.choose(shape)).toEqual(choice.tuning);
    }
    expect(keys).toContain(tuningKey(r.fallback));
    // A GEMM that was not timed (another name, or the same name at other sizes) is an error, not a silent fallback.
    expect(() => r.choose({ name: 'other', layout: 'forward', entries: [{ m: 1, n: 2, k: 3 }] })).toThrow(/GEMM other .* was not timed/);
    expect(() => r.choose({ ...shapes[0], entries: [{ m: 1, n: 2, k: 3 }] })).toThrow(/was not timed/);
    expect(ctx.liveBufferCount).toBe(liveBefore);
  });

  it('a subgroup variant is a candidate only where the device runs it; a cached one is timed again on a device without subgroups', async () => {
    const ctx = await testContext();
    const size = ctx.subgroups?.minSize;
    if (!size || size !== ctx.subgroups!.maxSize) throw new Error('the test adapter has no fixed subgroup size, so the subgroup GEMM cannot be tuned here');
    const subgroup: GemmTuning = { tileM: 4, tileN: 2, wgX: size, wgY: 1, subgroupSize: size };
    const cache = new TuningCache();
    const first = await tuneGemmPerDispatch(ctx, shapes, { candidates: [subgroup], cache, repeats: 1 });
    for (const shape of shapes) expect(first.choose(shape)).toEqual(subgroup);
    // The same adapter (the same cache key), opened without subgroups: the subgroup candidate is skipped.
    const plain = await noSubgroupsContext();
    const timed: TuningTiming[] = [];
    const again = await tuneGemmPerDispatch(plain, shapes, { candidates: [subgroup, candidates[0]], cache, repeats: 1, onTiming: (t) => timed.push(t) });
    expect(again.fromCache).toBe(false);
    expect(timed.map((t) => tuningKey(t.tuning))).toEqual(shapes.map(() => tuningKey(candidates[0])));
    for (const shape of shapes) expect(again.choose(shape)).toEqual(candidates[0]);
    const single = await tuneGemm(plain, shapes, { candidates: [subgroup, candidates[0]], cache: new TuningCache(), repeats: 1 });
    expect(single.tuning).toEqual(candidates[0]);
  });

  it('per-dispatch tuning keeps each shape its fastest candidate, cached per adapter and shape', async () => {
    const ctx = await testContext();
    const cache = new TuningCache();
    const liveBefore = ctx.liveBufferCount;
    const timed: TuningTiming[] = [];
    const first = await tuneGemmPerDispatch(ctx, shapes, { candidates, cache, repeats: 1, onTiming: (t) => timed.push(t) });
    expect(first.fromCache).toBe(false);
    expect(timed.length).toBe(shapes.length * candidates.length);
    const keys = candidates.map(tuningKey);
    shapes.forEach((shape, s) => {
      // The choice is the fastest timing of its shape.
      const own = timed.slice(s * candidates.length, (s + 1) * candidates.length);
      const fastest = own.reduce((a, b) => (b.ms < a.ms ? b : a));
      expect(tuningKey(first.perDispatch(shape))).toBe(tuningKey(fastest.tuning));
      expect(first.tunings.get(shape.name)).toEqual(first.perDispatch(shape));
      expect(keys).toContain(tuningKey(first.tunings.get(shape.name)!));
    });
    // Every shape was timed: the single is the candidate with the least time summed over the shapes.
    const totals = candidates.map((t) => timed.filter((x) => tuningKey(x.tuning) === tuningKey(t)).reduce((a, x) => a + x.ms, 0));
    expect(first.single).toEqual(candidates[totals.indexOf(Math.min(...totals))]);
    // Whichever won (real timings here; the decision itself is tested below with an injected timer), the plan gets its tunings.
    expect(first.perDispatchGflops).toBeGreaterThan(0);
    expect(first.singleGflops).toBeGreaterThan(0);
    expect(first.winner).toBe(first.perDispatchGflops >= first.singleGflops ? 'perDispatch' : 'single');
    for (const shape of shapes) expect(first.choose(shape)).toEqual(first.winner === 'perDispatch' ? first.perDispatch(shape) : first.single);
    expect(cache.size).toBe(shapes.length);
    expect(ctx.liveBufferCount).toBe(liveBefore);

    // Persisted and restored: nothing is timed again, the same choices; a new shape alone is timed.
    const restored = TuningCache.fromJSON(JSON.parse(JSON.stringify(cache.toJSON())));
    const again = await tuneGemmPerDispatch(ctx, shapes, { candidates, cache: restored, onTiming: (t) => timed.push(t) });
    expect(again.fromCache).toBe(true);
    expect(timed.length).toBe(shapes.length * candidates.length);
    for (const shape of shapes) expect(again.choose(shape)).toEqual(first.choose(shape));
    expect([again.winner, again.single, again.perDispatchGflops, again.singleGflops]).toEqual([first.winner, first.single, first.perDispatchGflops, first.singleGflops]);
    // A new shape: it alone is timed per candidate, then (the others' choices came from the cache) every candidate over all four together for the single.
    const extra: GemmShape = { name: 'extra', layout: 'dW', entries: [{ m: 5, n: 3, k: 9 }] };
    const more = await tuneGemmPerDispatch(ctx, [...shapes, extra], { candidates, cache: restored, repeats: 1, onTiming: (t) => timed.push(t) });
    expect(more.fromCache).toBe(false);
    expect(timed.length).toBe((shapes.length + 1) * candidates.length + candidates.length);
    expect(keys).toContain(tuningKey(more.perDispatch(extra)));
    expect(keys).toContain(tuningKey(more.single));

    // A GEMM that was not tuned (another name, sizes or layout) is an error, not a silent fallback, whichever won.
    for (const choose of [first.choose, first.perDispatch]) {
      expect(() => choose(extra)).toThrow(/GEMM extra .* was not tuned/);
      expect(() => choose({ ...shapes[0], entries: [{ m: 1, n: 2, k: 3 }] })).toThrow(/was not tuned/);
      expect(() => choose({ ...shapes[0], layout: 'dW' })).toThrow(/was not tuned/);
    }

    // The chosen variants, timed together as in a step, take a positive time.
    expect(await timeGemms(ctx, shapes, first.choose, 1)).toBeGreaterThan(0);
    expect(ctx.liveBufferCount).toBe(liveBefore);
  });

  describe('per-dispatch set against the best single tuning (injected timer: the outcome cannot flip)', () => {
    // A cache as written before decisions were kept: each shape's choice alone, a different candidate per shape.
    const oldCacheFile = async () => {
      const ctx = await testContext();
      return JSON.parse(JSON.stringify(Object.fromEntries(shapes.map((shape, i) => [TuningCache.key(ctx.adapter, [shape]), candidates[i]]))));
    };
    // Times the set (a chooser) at `setMs` and each single candidate at its entry of `singleMs`; records what was timed.
    const timer = (setMs: number, singleMs: number[], calls: string[]): TuneOptions['timeGemms'] => async (_ctx, timedShapes, tuning) => {
      expect(timedShapes).toEqual(shapes); // always all of the step's GEMMs together
      if (typeof tuning === 'function') {
        calls.push('set');
        return setMs;
      }
      calls.push(tuningKey(tuning));
      const i = candidates.findIndex((t) => tuningKey(t) === tuningKey(tuning));
      if (i < 0) throw new Error(`timed ${tuningKey(tuning)}, not a candidate`);
      return singleMs[i];
    };
    const noTiming: Pick<TuneOptions, 'timeGemms' | 'onTiming'> = {
      timeGemms: async () => { throw new Error('timed with everything cached'); },
      onTiming: () => { throw new Error('timed with everything cached'); },
    };
    const flops = gemmFlops(shapes);
    const expectPerDispatchSet = (choose: GemmTuningChooser) => shapes.forEach((shape, i) => expect(choose(shape)).toEqual(candidates[i]));

    it('the single wins when it runs the GEMMs faster together; an old cache file times only the single and the decision', async () => {
      const ctx = await testContext();
      const cache = TuningCache.fromJSON(await oldCacheFile());
      expect(cache.size).toBe(shapes.length);
      const calls: string[] = [];
      const timed: TuningTiming[] = [];
      const k = candidates.map(tuningKey);
      const r = await tuneGemmPerDispatch(ctx, shapes, { candidates, cache, repeats: 1, timeGemms: timer(5, [4, 2, 3], calls), onTiming: (t) => timed.push(t) });
      // No shape timed alone: every candidate over all shapes together (the best single), then the set and that single.
      expect(calls).toEqual([...k, 'set', k[1]]);
      expect(timed.map((t) => [tuningKey(t.tuning), t.gflops])).toEqual(k.map((key, i) => [key, flops / [4, 2, 3][i] / 1e6]));
      expect(r.fromCache).toBe(false);
      expect(r.winner).toBe('single');
      expect(r.single).toEqual(candidates[1]);
      expect(r.perDispatchGflops).toBe(flops / 5 / 1e6);
      expect(r.singleGflops).toBe(flops / 2 / 1e6);
      expectPerDispatchSet(r.perDispatch);
      for (const shape of shapes) expect(r.choose(shape)).toEqual(candidates[1]);
      // The single's chooser still refuses a GEMM that was not tuned.
      expect(() => r.choose({ name: 'other', layout: 'forward', entries: [{ m: 1, n: 2, k: 3 }] })).toThrow(/GEMM other .* was not tuned/);
      expect(() => r.choose({ ...shapes[1], layout: 'forward' })).toThrow(/was not tuned/);

      // Persisted and restored: the decision comes back, nothing is timed; the choices stay plain tunings in the file.
      const file = JSON.parse(JSON.stringify(cache.toJSON()));
      shapes.forEach((shape, i) => expect(file[TuningCache.key(ctx.adapter, [shape])]).toEqual(candidates[i]));
      const restored = TuningCache.fromJSON(file);
      const again = await tuneGemmPerDispatch(ctx, shapes, { candidates, cache: restored, ...noTiming });
      expect(again.fromCache).toBe(true);
      expect([again.winner, again.single, again.perDispatchGflops, again.singleGflops]).toEqual(['single', candidates[1], flops / 5 / 1e6, flops / 2 / 1e6]);
      for (const shape of shapes) expect(again.choose(shape)).toEqual(candidates[1]);

      // A decision made against another set is made again (the single over the set is cached: only the set and the single are timed).
      restored.set(TuningCache.key(ctx.adapter, [shapes[0]]), { tuning: candidates[1], timings: [] });
      calls.length = 0;
      const changed = await tuneGemmPerDispatch(ctx, shapes, { candidates, cache: restored, repeats: 1, timeGemms: timer(1, [4, 2, 3], calls) });
      expect(calls).toEqual(['set', k[1]]);
      expect(changed.fromCache).toBe(false);
      expect(changed.winner).toBe('perDispatch');
      expect(changed.choose(shapes[0])).toEqual(candidates[1]);
      expect(changed.choose(shapes[2])).toEqual(candidates[2]);
    });

    it('the per-dispatch set wins when it runs the GEMMs faster together', async () => {
      const ctx = await testContext();
      const cache = TuningCache.fromJSON(await oldCacheFile());
      const calls: string[] = [];
      const r = await tuneGemmPerDispatch(ctx, shapes, { candidates, cache, repeats: 1, timeGemms: timer(1.5, [4, 3, 2], calls) });
      expect(calls).toEqual([...candidates.map(tuningKey), 'set', tuningKey(candidates[2])]);
      expect(r.winner).toBe('perDispatch');
      expect(r.single).toEqual(candidates[2]);
      expect(r.perDispatchGflops).toBe(flops / 1.5 / 1e6);
      expect(r.singleGflops).toBe(flops / 2 / 1e6);
      expectPerDispatchSet(r.choose);
      expectPerDispatchSet(r.perDispatch);
      const again = await tuneGemmPerDispatch(ctx, shapes, { candidates, cache: TuningCache.fromJSON(JSON.parse(JSON.stringify(cache.toJSON()))), ...noTiming });
      expect(again.fromCache).toBe(true);
      expect(again.winner).toBe('perDispatch');
      expectPerDispatchSet(again.choose);
    });

    it('a malformed decision in a cache file is an error naming the entry and field', async () => {
      const ctx = await testContext();
      const key = TuningCache.decisionKey(ctx.adapter, shapes);
      const good = { winner: 'single', single: candidates[0], perDispatch: candidates.map(tuningKey), perDispatchGflops: 1, singleGflops: 2 };
      expect(TuningCache.fromJSON({ ...(await oldCacheFile()), [key]: good }).getDecision(key)).toEqual(good);
      expect(() => TuningCache.fromJSON({ [key]: { ...good, winner: 'both' } })).toThrow(/GEMM tuning cache entry ".*": winner must be "perDispatch" or "single"/);
      expect(() => TuningCache.fromJSON({ [key]: { ...good, singleGflops: 'fast' } })).toThrow(/singleGflops must be a positive number/);
      expect(() => TuningCache.fromJSON({ [key]: null })).toThrow(/the entry must be an object/);
    });
  });

  it('refuses a batch over the device limits before timing anything, naming the largest batch that fits', async () => {
    const ctx = await testContext();
    const config = ple({ inputDim: 64, tasks: [{ name: 'a', type: 'binary' }], levels: 2, taskExperts: 2, sharedExperts: 2, expertWidths: [64], towerWidths: [32] });
    const timed: TuningTiming[] = [];
    const error = await tuneGemmForModel(ctx, config, 100_000_000, { onTiming: (t) => timed.push(t) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LimitError);
    expect((error as LimitError).message).toMatch(/the largest batch size that fits is \d+/);
    expect(timed).toEqual([]);
  });

  it("lists a step's GEMM shapes", () => {
    const config = ple({
      inputDim: 128, tasks: [{ name: 'a', type: 'binary' }, { name: 'b', type: 'binary' }],
      levels: 2, taskExperts: 2, sharedExperts: 2, expertWidths: [64], towerWidths: [32],
    });
    const s = stepGemmShapes(buildSpec(config), 512);
    const fwd = s.find((x) => x.name === 'level0.layer0')!;
    expect(fwd.entries).toEqual([{ m: 512, n: 128, k: 128 }, { m: 512, n: 128, k: 128 }, { m: 512, n: 128, k: 128 }]);
    expect(s.some((x) => x.name === 'level0.layer0.dX')).toBe(false); // level 1 needs no input gradient
    expect(s.find((x) => x.name === 'level1.layer0.dX')!.entries[0]).toEqual({ m: 512, n: 64, k: 128 });
    expect(gemmFlops([fwd])).toBe(3 * 2 * 512 * 128 * 128);
  });
});
