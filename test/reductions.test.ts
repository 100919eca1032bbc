/**
 * Which path the reduction kernels take (src/reductions.ts, src/kernels/lanes.ts): the subgroup
 * path on a device with the `subgroups` feature, the plain path on one without it (a second
 * device on the test adapter, opened without the feature). Each path's numerics are tested
 * against the float64 reference in the kernels' own tests and, for the whole pass, in model.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ple } from '../src/config.js';
import { buildSpec } from '../src/spec.js';
import { buildPlan, destroyPlan } from '../src/plan.js';
import { gateSoftmaxDispatch } from '../src/kernels/gate_softmax.js';
import { allOnPath, reductionKernels, reductionPathsFor } from '../src/reductions.js';
import type { GpuContext } from '../src/gpu/context.js';
import { contextFor, noSubgroupsContext, upload } from './gpu.js';

const spec = buildSpec(ple({ inputDim: 5, tasks: [{ name: 'a', type: 'binary' }, { name: 'b', type: 'regression' }], levels: 2, taskExperts: 1, sharedExperts: 2, expertWidths: [3], towerWidths: [2] }));

/** The path of every reduction dispatch of a plan built on ctx, by kernel. */
async function planPaths(ctx: GpuContext, reductions?: Parameters<typeof buildPlan>[2]['reductions']) {
  const plan = await buildPlan(ctx, spec, { batchSize: 7, reductions });
  try {
    const paths = new Map<string, Set<string | undefined>>();
    for (const op of [...plan.forward, ...plan.loss, ...plan.backward, ...plan.optimizer]) {
      if (op.kind !== 'dispatch') continue;
      // The fused gate softmax and mixture runs the gate softmax's path.
      const kernel = op.dispatch.kernel === 'gate_mixture' ? 'gate_softmax' : op.dispatch.kernel;
      if (!(reductionKernels as readonly string[]).includes(kernel)) continue;
      if (!paths.has(kernel)) paths.set(kernel, new Set());
      paths.get(kernel)!.add(op.dispatch.path);
    }
    return Object.fromEntries([...paths].map(([k, s]) => [k, [...s]]));
  } finally {
    destroyPlan(ctx, plan);
  }
}

describe('reduction paths', () => {
  it('a device without the subgroups feature takes the plain path for every reduction kernel', async () => {
    const ctx = await noSubgroupsContext();
    expect(ctx.adapter.features).toContain('subgroups');
    expect(ctx.device.features.has('subgroups')).toBe(false);
    expect(ctx.subgroups).toBeNull();
    expect(reductionPathsFor(ctx)).toEqual(allOnPath('plain'));
    expect(await planPaths(ctx)).toEqual(Object.fromEntries(reductionKernels.map((k) => [k, ['plain']])));
    // Asking it for the subgroup path is an error naming the feature, not a compile failure.
    const bufs = { x: upload(ctx, [0]), w: upload(ctx, [0]), out: upload(ctx, [0]) };
    const dispatch = async () => gateSoftmaxDispatch(ctx, 'test', [{ rows: 1, n: 1, k: 1, xOff: 0, xRow: 1, outOff: 0, outRow: 1 }], bufs, 'subgroup');
    await expect(dispatch()).rejects.toThrow(/'subgroups' feature/);
  });

  it('a device with the feature requests it and takes the paths reductionPathsFor chooses; a plan may override them', async () => {
    const ctx = await contextFor('subgroup');
    expect(ctx.device.features.has('subgroups')).toBe(true);
    expect(ctx.subgroups!.minSize).toBeGreaterThanOrEqual(1);
    const chosen = reductionPathsFor(ctx);
    expect(await planPaths(ctx)).toEqual(Object.fromEntries(reductionKernels.map((k) => [k, [chosen[k]]])));
    expect(await planPaths(ctx, allOnPath('plain'))).toEqual(Object.fromEntries(reductionKernels.map((k) => [k, ['plain']])));
    expect(await planPaths(ctx, allOnPath('subgroup'))).toEqual(Object.fromEntries(reductionKernels.map((k) => [k, ['subgroup']])));
  });
});
