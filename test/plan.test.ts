/**
 * src/plan.ts and src/layers/: the step description is the one list the plan builds and the
 * tuner times, GEMM strides follow the operand layout the tuner lays out, and a plan that fails
 * frees exactly what it allocated (not what a plan built beside it allocated).
 */
import { describe, expect, it } from 'vitest';
import { mmoe, ple, sharedBottom, type ModelConfig } from '../src/config.js';
import { buildSpec } from '../src/spec.js';
import { buildPlan, destroyPlan, planAlignment } from '../src/plan.js';
import { describeStep, stepGemms } from '../src/layers/model.js';
import { opKernel, opName } from '../src/kernels/dispatch.js';
import type { GemmShape, GemmTuning } from '../src/kernels/batched_gemm.js';
import { LimitError } from '../src/limits.js';
import { layoutShape, stepGemmShapes } from '../src/tuning.js';
import { testContext } from './gpu.js';

const tasks = [
  { name: 'click', type: 'binary' as const },
  { name: 'time', type: 'regression' as const },
];
const configs: Record<string, ModelConfig> = {
  'PLE 2 levels, 2-layer experts': ple({ inputDim: 5, tasks, levels: 2, taskExperts: 2, sharedExperts: 1, expertWidths: [4, 3], towerWidths: [3], gateBias: true }),
  'PLE with embeddings and uncertainty weighting': {
    ...ple({ inputDim: 3, tasks, levels: 2, taskExperts: 1, sharedExperts: 1, expertWidths: [4], towerWidths: [] }),
    embeddings: [{ name: 'city', vocabulary: 7, dim: 2 }],
    uncertaintyWeighting: true,
  },
  MMoE: mmoe({ inputDim: 4, tasks, experts: 3, expertWidths: [5], towerWidths: [2] }),
  'shared-bottom': sharedBottom({ inputDim: 4, tasks, bottomWidths: [6], towerWidths: [3] }),
};
const tuning: GemmTuning = { tileM: 2, tileN: 2, wgX: 4, wgY: 4 };
const sizes = (s: GemmShape) => ({ name: s.name, layout: s.layout, entries: s.entries.map(({ m, n, k }) => ({ m, n, k })) });

describe('the plan and the tuner read one op list', () => {
  for (const [label, config] of Object.entries(configs)) {
    it(`${label}: the tuned shapes are exactly the plan's GEMM dispatches`, async () => {
      const ctx = await testContext();
      const spec = buildSpec(config);
      const B = 7;
      const asked: GemmShape[] = [];
      const plan = await buildPlan(ctx, spec, { batchSize: B, gemmTuning: (gemm) => (asked.push(sizes(gemm)), tuning) });
      try {
        const tuned = stepGemmShapes(spec, B, planAlignment(ctx));
        expect(tuned.length).toBeGreaterThan(0);
        // The chooser was asked about each tuned shape once, in the same order, with the same sizes.
        expect(asked).toEqual(tuned);
        // And the plan's batched_gemm dispatches are those, by name, in encoding order.
        const ops = [...plan.forward, ...plan.loss, ...plan.backward, ...plan.optimizer];
        expect(ops.filter((op) => opKernel(op) === 'batched_gemm').map(opName)).toEqual(tuned.map((s) => s.name));
        // Every op of the plan comes from one description of the step, in order; grad_norm's gives
        // two dispatches, its partial sums and then their total under its own name.
        const described = [...plan.step.ops.forward, ...plan.step.ops.loss, ...plan.step.ops.backward, ...plan.step.ops.optimizer];
        const expected = described.flatMap((d) => (d.kernel === 'grad_norm' ? [[d.kernel, 'partials'], [d.kernel, d.name]] : [[d.kernel, d.name]]));
        expect(ops.map((op) => [opKernel(op), opName(op)])).toEqual(expected);
      } finally {
        destroyPlan(ctx, plan);
      }
    });
  }

  it("every GEMM's strides are the operand layout it declares (the layout the tuner times)", () => {
    for (const [label, config] of Object.entries(configs)) {
      for (const op of stepGemms(describeStep(buildSpec(config), 9, 4))) {
        const tuner = layoutShape(op).entries;
        op.entries.forEach((e, i) => {
          const what = `${label}: ${op.name} entry ${i} (${op.layout})`;
          // Unit strides sit where the tuner's contiguous layout has them: A row-major except in dW, B row-major except in dX.
          expect({ aCol: e.aCol === 1, aRow: e.aRow === 1, bCol: e.bCol === 1, bRow: e.bRow === 1 }, what).toEqual({
            aCol: tuner[i].aCol === 1, aRow: tuner[i].aRow === 1, bCol: tuner[i].bCol === 1, bRow: tuner[i].bRow === 1,
          });
          expect(e.cRow, what).toBeGreaterThanOrEqual(e.n);
        });
      }
    }
  });

  it('every activation an op names was declared by a layer, and every declared activation is used', () => {
    for (const [label, config] of Object.entries(configs)) {
      const step = describeStep(buildSpec(config), 5, 1);
      const ranges = [...step.activations.views.values()].map((v) => ({ name: v.name, lo: v.offset, hi: v.offset + v.size, used: false }));
      const touch = (what: string, off: number) => {
        const r = ranges.find((x) => off >= x.lo && off < x.hi);
        expect(r, `${label}: ${what} at ${off} is in no declared activation`).toBeDefined();
        r!.used = true;
      };
      for (const d of [...step.ops.forward, ...step.ops.loss, ...step.ops.backward]) {
        if (d.kernel === 'batched_gemm') {
          d.entries.forEach((e) => {
            if (d.buffers.a === 'act') touch(`${d.name} A`, e.aOff);
            if (d.buffers.b === 'act') touch(`${d.name} B`, e.bOff);
            if (d.buffers.c === 'act') touch(`${d.name} C`, e.cOff);
          });
        }
        if (d.kernel === 'mixture') d.entries.forEach((e) => (touch(`${d.name} out`, e.outOff), touch(`${d.name} z`, e.zOff), touch(`${d.name} w`, e.wOff)));
        if (d.kernel === 'gate_softmax') d.entries.forEach((e) => touch(`${d.name} out`, e.outOff));
        if (d.kernel === 'task_loss') d.entries.forEach((e) => (touch(`${d.name} logits`, e.logitOff), touch(`${d.name} out`, e.outOff)));
        if (d.kernel === 'mixture_gate_grad') d.entries.forEach((e) => (touch(`${d.name} dG`, e.dgOff), touch(`${d.name} dlogit`, e.dlOff)));
        if (d.kernel === 'mixture_expert_grad') d.entries.forEach((e) => touch(`${d.name} dZ`, e.dzOff));
        if (d.kernel === 'embedding_backward') d.entries.forEach((e) => touch(`${d.name} dx`, e.dxOff));
      }
      // A level whose gates are all parameterless (one expert each: shared-bottom) keeps a gate gradient nothing writes.
      const spec = buildSpec(config);
      const idle = spec.levels.filter((l) => l.gates.every((g) => !g.hasParams)).map((l) => `level${l.index}.gates.grad`);
      expect(ranges.filter((r) => !r.used).map((r) => r.name), label).toEqual(idle);
    }
  });
});

describe('a failing plan frees what it owns', () => {
  it("and leaves a plan being built beside it intact", async () => {
    const ctx = await testContext();
    ctx.placeholderBuffer;
    const before = ctx.liveBufferCount;
    const spec = buildSpec(configs['PLE 2 levels, 2-layer experts']);
    // One plan fails inside dispatch creation (a grid over the device's limit), after its buffers
    // exist, while a good plan is being built at the same time.
    const tooTall = ctx.limits.maxComputeWorkgroupsPerDimension * 64 + 1;
    const failing = buildPlan(ctx, buildSpec(ple({ inputDim: 2, tasks, levels: 1, taskExperts: 1, sharedExperts: 1, expertWidths: [2], towerWidths: [] })), {
      batchSize: tooTall,
      gemmTuning: { tileM: 1, tileN: 1, wgX: 1, wgY: 1 },
    });
    const good = buildPlan(ctx, spec, { batchSize: 6, gemmTuning: tuning });
    const [bad, plan] = await Promise.allSettled([failing, good]);
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(LimitError);
    expect(plan.status).toBe('fulfilled');
    const p = (plan as PromiseFulfilledResult<Awaited<typeof good>>).value;
    const owned = [...Object.values(p.buffers), ...[...p.forward, ...p.loss, ...p.backward, ...p.optimizer].flatMap((op) => (op.kind === 'dispatch' ? op.dispatch.owned : []))];
    // Exactly the good plan's buffers are alive: the failed one freed its own and none of the other's.
    expect(ctx.liveBufferCount).toBe(before + owned.length);
    destroyPlan(ctx, p);
    expect(ctx.liveBufferCount).toBe(before);
  });
});
