/**
 * The planner: compiles a model spec once into a plan — parameter, input and
 * activation arenas, the GPU buffers, and the ordered dispatches (pipeline,
 * bind group, grid) of the forward pass, the loss, the backward pass and the
 * optimizer. A training step then only encodes these lists.
 *
 * Activation layout of level j (B = batch capacity, E = experts of the level):
 *   level{j}.layer{l}  [B, E*h_l]   expert outputs side by side, expert e in columns e*h_l..
 *   level{j}.gates     [B, columns] gate weights, gate g in columns gate.column..
 *   level{j}.out       [gates, B, d] one mixture per gate; the next level's group inputs
 * Towers: tower.layer{l} [K, B, t_l]; the last layer is the logits [K, B, 1].
 * Each has a twin `<name>.grad` holding the loss gradient with respect to it.
 */
import type { GpuContext } from './gpu/context.js';
import type { LevelSpec, ModelSpec, GateSpec } from './spec.js';
import { names } from './spec.js';
import { ArenaLayout } from './arena.js';
import { LimitError } from './limits.js';
import { gemmTuningFor, gemmDispatch, type GemmBuffers, type GemmEntry, type GemmTuning, type GemmTuningChooser } from './kernels/batched_gemm.js';
import { biasActBackwardDispatch, type BiasActEntry } from './kernels/bias_act_backward.js';
import { gateSoftmaxDispatch, type GateEntry } from './kernels/gate_softmax.js';
import {
  mixtureBackwardDispatch,
  mixtureDispatch,
  mixtureSoftmaxBackwardDispatch,
  type ExpertGradEntry,
  type MixtureBackwardEntry,
  type MixtureEntry,
} from './kernels/mixture.js';
import { taskLossDispatch, type TaskLossEntry } from './kernels/task_loss.js';
import { csrWords, embeddingBackwardDispatch, embeddingGatherDispatch, type GatherEntry, type ScatterEntry } from './kernels/embedding.js';
import { optimizerDispatch } from './kernels/optimizer.js';
import { gradNormDispatch } from './kernels/grad_norm.js';
import { uncertaintyDispatch } from './kernels/uncertainty.js';
import type { Dispatch, Op } from './kernels/dispatch.js';

export interface PlanOptions {
  /** Rows per step; smaller batches are padded and masked. */
  batchSize: number;
  /** One tuning for every GEMM dispatch, or a chooser called per dispatch (see src/tuning.ts). Default: by adapter. */
  gemmTuning?: GemmTuning | GemmTuningChooser;
}

export interface PlanBuffers {
  params: GPUBuffer;
  grads: GPUBuffer;
  /** Optimizer moments (Adam m and v; SGD momentum in m1). */
  m1: GPUBuffer;
  m2: GPUBuffer;
  /** x, labels and mask of the current batch. */
  input: GPUBuffer;
  act: GPUBuffer;
  /** One f32 loss weight per task: what the loss kernel applies. */
  taskWeights: GPUBuffer;
  /** The weights w_k the host sets; under uncertainty weighting taskWeights = w_k exp(-s_k) is derived on the GPU. */
  baseWeights: GPUBuffer;
  optimizerUniform: GPUBuffer;
  /** Gradient clipping: the uniform (count, maxNorm) and the GPU-computed [scale, norm]. */
  clipUniform: GPUBuffer;
  clip: GPUBuffer;
}

export interface Plan {
  spec: ModelSpec;
  batchSize: number;
  params: ArenaLayout;
  input: ArenaLayout;
  act: ArenaLayout;
  buffers: PlanBuffers;
  forward: Op[];
  loss: Op[];
  backward: Op[];
  optimizer: Op[];
  /** Bytes of GPU memory the plan holds, by buffer. */
  memory: Record<keyof PlanBuffers, number>;
}

export function paramLayout(spec: ModelSpec, align: number): ArenaLayout {
  const layout = new ArenaLayout('params', align);
  for (const p of spec.params) layout.alloc(p.name, p.shape);
  return layout;
}

export function inputLayout(spec: ModelSpec, B: number, align: number): ArenaLayout {
  const layout = new ArenaLayout('input', align);
  // Dense inputs fill the first inputDim columns; the embedding lookup writes the rest.
  layout.alloc('x', [B, spec.modelInputDim]);
  layout.alloc('labels', [B, spec.numTasks]);
  layout.alloc('mask', [B, spec.numTasks]);
  const E = spec.embeddings.length;
  if (E > 0) {
    layout.alloc('indices', [B, E]);
    layout.alloc('csr', [E, csrWords(B)]);
  }
  return layout;
}

export function activationLayout(spec: ModelSpec, B: number, align: number): ArenaLayout {
  const layout = new ArenaLayout('activations', align);
  const K = spec.numTasks;
  // With embeddings, level 1's groups each write their gradient of the input row here.
  if (spec.embeddings.length > 0) layout.alloc('input.grad', [spec.levels[0].groups.length, B, spec.modelInputDim]);
  const both = (name: string, shape: number[]) => {
    layout.alloc(name, shape);
    layout.alloc(`${name}.grad`, shape);
  };
  for (const level of spec.levels) {
    const j = level.index;
    level.widths.forEach((h, l) => both(`level${j}.layer${l}`, [B, level.numExperts * h]));
    both(`level${j}.gates`, [B, level.gateColumns]);
    both(`level${j}.out`, [level.gates.length, B, level.outDim]);
  }
  spec.towerDims.forEach((t, l) => both(`tower.layer${l}`, [K, B, t]));
  layout.alloc('loss', [K, 2]);
  return layout;
}

/** The largest batch whose buffers fit `maxBytes` (0 when even one row does not). */
export function largestBatch(spec: ModelSpec, align: number, maxBytes: number): number {
  const fits = (B: number) => activationLayout(spec, B, align).bytes <= maxBytes && inputLayout(spec, B, align).bytes <= maxBytes;
  if (!fits(1)) return 0;
  let lo = 1;
  let hi = 2;
  while (fits(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > 1 << 30) return lo;
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Every expert of a level: its group, its index within the group, and its index in the level. */
function expertsOf(level: LevelSpec) {
  return level.groups.flatMap((g) => Array.from({ length: g.experts }, (_, i) => ({ g, i, e: g.firstExpert + i })));
}

/** A gate's members as (own run, shared run), the form the mixture kernels take. */
function memberRuns(level: LevelSpec, gate: GateSpec) {
  const K = level.groups.length - 1;
  const own = gate.group < K ? level.groups[gate.group] : { firstExpert: 0, experts: level.numExperts };
  const runs = { ownStart: own.firstExpert, ownCount: own.experts, sharedStart: level.groups[K].firstExpert };
  const rebuilt = Array.from({ length: gate.members.length }, (_, j) => (j < runs.ownCount ? runs.ownStart + j : runs.sharedStart + j - runs.ownCount));
  if (rebuilt.join() !== gate.members.join()) throw new Error(`gate ${gate.name}: members are not an own run followed by the shared run`);
  return runs;
}

export async function buildPlan(ctx: GpuContext, spec: ModelSpec, options: PlanOptions): Promise<Plan> {
  const B = options.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new LimitError('batchSize', `batchSize must be a positive integer, got ${B}`);
  const given = options.gemmTuning ?? gemmTuningFor(ctx.adapter);
  const tuning: GemmTuningChooser = typeof given === 'function' ? given : () => given;
  const align = Math.max(1, ctx.limits.minStorageBufferOffsetAlignment / 4);
  const P = paramLayout(spec, align);
  const I = inputLayout(spec, B, align);
  const A = activationLayout(spec, B, align);

  // Refuse plans the device cannot hold, naming the limit and the batch that would fit.
  const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  for (const layout of [P, I, A]) {
    if (layout.bytes > maxBinding) {
      const limit = ctx.limits.maxStorageBufferBindingSize <= ctx.limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
      const maxBatch = layout === P ? undefined : largestBatch(spec, align, maxBinding);
      throw new LimitError(
        limit,
        `the ${layout.label} buffer needs ${layout.bytes} bytes at batch size ${B}, over the device's ${limit} of ${maxBinding} bytes` +
          (layout === P ? ' (the model itself is too large for this device)' : `; the largest batch size that fits is ${maxBatch}`),
        maxBatch,
      );
    }
  }

  // Should anything below fail (a shader, a limit met while creating a dispatch), everything it
  // allocated is freed before the error reaches the caller.
  const mark = ctx.bufferMark();
  const forward: PendingOp[] = [];
  const backward: PendingOp[] = [];
  const rest: Promise<Dispatch>[] = [];
  try {
    return await assemblePlan(ctx, spec, B, tuning, P, I, A, forward, backward, rest);
  } catch (e) {
    await Promise.allSettled([...forward, ...backward, ...rest]);
    ctx.destroyBuffersSince(mark);
    throw e;
  }
}

type PendingOp = Promise<Dispatch> | { clear: { buffer: GPUBuffer; offset: number; size: number; label: string } };

/** Allocates the plan's buffers and creates its dispatches, in step order; `forward`, `backward` and `rest` collect them. */
async function assemblePlan(
  ctx: GpuContext,
  spec: ModelSpec,
  B: number,
  tuning: GemmTuningChooser,
  P: ArenaLayout,
  I: ArenaLayout,
  A: ArenaLayout,
  forward: PendingOp[],
  backward: PendingOp[],
  rest: Promise<Dispatch>[],
): Promise<Plan> {
  const K = spec.numTasks;
  const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const buffers: PlanBuffers = {
    params: ctx.createBuffer('params', P.bytes, storage),
    grads: ctx.createBuffer('grads', P.bytes, storage),
    m1: ctx.createBuffer('moment1', P.bytes, storage),
    m2: ctx.createBuffer('moment2', P.bytes, storage),
    input: ctx.createBuffer('input', I.bytes, storage),
    act: ctx.createBuffer('activations', A.bytes, storage),
    taskWeights: ctx.createBuffer('task weights', K * 4, storage),
    baseWeights: ctx.createBuffer('base task weights', K * 4, storage),
    optimizerUniform: ctx.createBuffer('optimizer uniform', 64, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST),
    clipUniform: ctx.createBuffer('clip uniform', 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST),
    clip: ctx.createBuffer('clip', 16, storage),
  };
  const memory = Object.fromEntries(Object.entries(buffers).map(([k, b]) => [k, b.size])) as Record<keyof PlanBuffers, number>;
  const track = (p: Promise<Dispatch>) => (rest.push(p), p);
  const gemm = (label: string, entries: GemmEntry[], bufs: GemmBuffers) => gemmDispatch(ctx, label, entries, bufs, tuning(entries));

  const pv = (name: string) => P.get(name).offset;
  const av = (name: string) => A.get(name).offset;
  const xOff = I.get('x').offset;

  // Dispatches are created concurrently (pipelines compile in parallel where the host allows).

  const tables = spec.embeddings.length;
  /** Level 1 needs its input's gradient only to reach the embedding tables. */
  const wantInputGrad = (j: number) => j > 0 || tables > 0;
  /** Where group g of level j reads its input, and where that input's gradient goes. */
  const inputOf = (j: number, g: number) => {
    const level = spec.levels[j];
    if (j === 0) return { buffer: buffers.input, off: xOff, row: level.inDim, gradOff: tables > 0 ? av('input.grad') + g * B * level.inDim : -1 };
    const block = B * level.inDim;
    return { buffer: buffers.act, off: av(`level${j - 1}.out`) + g * block, row: level.inDim, gradOff: av(`level${j - 1}.out.grad`) + g * block };
  };

  if (tables > 0) {
    const entries: GatherEntry[] = spec.embeddings.map((e, t) => ({
      rows: B, dim: e.dim, vocabulary: e.vocabulary,
      idxOff: I.get('indices').offset + t, idxRow: tables,
      tableOff: pv(names.embedding(e.name)),
      xOff: xOff + e.column, xRow: spec.modelInputDim,
    }));
    forward.push(embeddingGatherDispatch(ctx, 'input', entries, { indices: buffers.input, tables: buffers.params, x: buffers.input }));
  }

  for (const level of spec.levels) {
    const j = level.index;
    const E = level.numExperts;
    const inBuffer = inputOf(j, 0).buffer;
    const L = level.widths.length - 1;
    const d = level.outDim;
    const groupsWithExperts = level.groups.filter((g) => g.experts > 0);

    // Expert layers. Layer 0 is one wide GEMM per group; deeper layers one GEMM per expert.
    level.widths.forEach((h, l) => {
      const hin = l === 0 ? level.inDim : level.widths[l - 1];
      const out = av(`level${j}.layer${l}`);
      const entries: GemmEntry[] =
        l === 0
          ? groupsWithExperts.map((g) => {
              const input = inputOf(j, level.groups.indexOf(g));
              return {
                m: B, n: g.experts * h, k: hin,
                aOff: input.off, aRow: input.row, aCol: 1,
                bOff: pv(names.expertWeight(j, g.name, 0)), bRow: g.experts * h, bCol: 1,
                cOff: out + g.firstExpert * h, cRow: E * h,
                biasOff: pv(names.expertBias(j, g.name, 0)), relu: true,
              };
            })
          : expertsOf(level).map(({ g, i, e }) => ({
              m: B, n: h, k: hin,
              aOff: av(`level${j}.layer${l - 1}`) + e * hin, aRow: E * hin, aCol: 1,
              bOff: pv(names.expertWeight(j, g.name, l)) + i * hin * h, bRow: h, bCol: 1,
              cOff: out + e * h, cRow: E * h,
              biasOff: pv(names.expertBias(j, g.name, l)) + i * h, relu: true,
            }));
      const a = l === 0 ? inBuffer : buffers.act;
      forward.push(gemm(`level${j}.layer${l}`, entries, { a, b: buffers.params, c: buffers.act, bias: buffers.params }));
    });

    const gateCols = level.gateColumns;
    const gatesOff = av(`level${j}.gates`);
    const gateEntries: GateEntry[] = level.gates.map((gate) => ({
      rows: B, n: gate.members.length, k: level.inDim,
      xOff: inputOf(j, gate.group).off, xRow: level.inDim,
      wOff: gate.hasParams ? pv(names.gateWeight(j, gate.name)) : undefined,
      bOff: gate.hasParams && spec.config.gateBias ? pv(names.gateBias(j, gate.name)) : undefined,
      outOff: gatesOff + gate.column, outRow: gateCols,
    }));
    forward.push(gateSoftmaxDispatch(ctx, `level${j}.gates`, gateEntries, { x: inBuffer, w: buffers.params, out: buffers.act }));

    const zL = av(`level${j}.layer${L}`);
    const outOff = av(`level${j}.out`);
    const mixEntries: MixtureEntry[] = level.gates.map((gate, gi) => ({
      rows: B, d, n: gate.members.length, ...memberRuns(level, gate),
      wOff: gatesOff + gate.column, wRow: gateCols,
      zOff: zL, zRow: E * d,
      outOff: outOff + gi * B * d, outRow: d,
    }));
    forward.push(mixtureDispatch(ctx, `level${j}.mixture`, mixEntries, { gateW: buffers.act, z: buffers.act, out: buffers.act }));
  }

  // Towers: one GEMM per layer over all tasks.
  const last = spec.levels[spec.levels.length - 1];
  const d = last.outDim;
  const towerInput = (k: number, l: number) =>
    l === 0
      ? { off: av(`level${last.index}.out`) + k * B * d, gradOff: av(`level${last.index}.out.grad`) + k * B * d, width: d }
      : {
          off: av(`tower.layer${l - 1}`) + k * B * spec.towerDims[l - 1],
          gradOff: av(`tower.layer${l - 1}.grad`) + k * B * spec.towerDims[l - 1],
          width: spec.towerDims[l - 1],
        };
  const lastTower = spec.towerDims.length - 1;
  spec.towerDims.forEach((t, l) => {
    const entries: GemmEntry[] = Array.from({ length: K }, (_, k) => {
      const input = towerInput(k, l);
      return {
        m: B, n: t, k: input.width,
        aOff: input.off, aRow: input.width, aCol: 1,
        bOff: pv(names.towerWeight(k, l)), bRow: t, bCol: 1,
        cOff: av(`tower.layer${l}`) + k * B * t, cRow: t,
        biasOff: pv(names.towerBias(k, l)), relu: l < lastTower,
      };
    });
    forward.push(gemm(`tower.layer${l}`, entries, { a: buffers.act, b: buffers.params, c: buffers.act, bias: buffers.params }));
  });

  const logitsOff = av(`tower.layer${lastTower}`);
  const dLogitsOff = av(`tower.layer${lastTower}.grad`);
  const lossEntries: TaskLossEntry[] = spec.config.tasks.map((task, k) => ({
    type: task.type, rows: B, task: k,
    logitOff: logitsOff + k * B,
    labelOff: I.get('labels').offset + k, labelRow: K,
    maskOff: I.get('mask').offset + k, maskRow: K,
    dOff: dLogitsOff + k * B,
    outOff: A.get('loss').offset,
  }));
  const lossDispatch = track(taskLossDispatch(ctx, 'tasks', lossEntries, {
    weights: buffers.taskWeights, logits: buffers.act, labels: buffers.input, dLogits: buffers.act, out: buffers.act,
  }));

  const uncertainty = { tasks: K, sOff: spec.config.uncertaintyWeighting ? pv(names.logVariance) : 0, lossOff: A.get('loss').offset };
  const uncertaintyBuffers = { base: buffers.baseWeights, params: buffers.params, effective: buffers.taskWeights, act: buffers.act, grads: buffers.grads };

  // ---- Backward: towers, last layer first.
  for (let l = lastTower; l >= 0; l--) {
    const t = spec.towerDims[l];
    const y = (k: number) => av(`tower.layer${l}`) + k * B * t;
    const dy = (k: number) => av(`tower.layer${l}.grad`) + k * B * t;
    const tasks = Array.from({ length: K }, (_, k) => k);
    backward.push(
      biasActBackwardDispatch(
        ctx, `tower.layer${l}`,
        tasks.map((k) => ({ rows: B, cols: t, relu: l < lastTower, dyOff: dy(k), dyRow: t, yOff: y(k), yRow: t, dbOff: pv(names.towerBias(k, l)) })),
        { dY: buffers.act, y: buffers.act, db: buffers.grads },
      ),
    );
    backward.push(
      gemm(`tower.layer${l}.dW`, tasks.map((k) => {
        const input = towerInput(k, l);
        return {
          m: input.width, n: t, k: B,
          aOff: input.off, aRow: 1, aCol: input.width,
          bOff: dy(k), bRow: t, bCol: 1,
          cOff: pv(names.towerWeight(k, l)), cRow: t,
        };
      }), { a: buffers.act, b: buffers.act, c: buffers.grads }),
    );
    backward.push(
      gemm(`tower.layer${l}.dX`, tasks.map((k) => {
        const input = towerInput(k, l);
        return {
          m: B, n: input.width, k: t,
          aOff: dy(k), aRow: t, aCol: 1,
          bOff: pv(names.towerWeight(k, l)), bRow: 1, bCol: t,
          cOff: input.gradOff, cRow: input.width,
        };
      }), { a: buffers.act, b: buffers.params, c: buffers.act }),
    );
  }

  // ---- Backward: levels, last first.
  for (let j = spec.levels.length - 1; j >= 0; j--) {
    const level = spec.levels[j];
    const E = level.numExperts;
    const L = level.widths.length - 1;
    const dOut = level.outDim;
    const gateCols = level.gateColumns;
    const gatesOff = av(`level${j}.gates`);
    const gatesGrad = av(`level${j}.gates.grad`);
    const outGrad = av(`level${j}.out.grad`);
    const inBuffer = inputOf(j, 0).buffer;
    const groupsWithExperts = level.groups.filter((g) => g.experts > 0);
    const experts = expertsOf(level);
    const paramGates = level.gates.map((gate, gi) => ({ gate, gi })).filter(({ gate }) => gate.hasParams);

    if (paramGates.length > 0) {
      const entries: MixtureBackwardEntry[] = paramGates.map(({ gate, gi }) => ({
        rows: B, d: dOut, n: gate.members.length, ...memberRuns(level, gate),
        wOff: gatesOff + gate.column, wRow: gateCols,
        zOff: av(`level${j}.layer${L}`), zRow: E * dOut,
        dgOff: outGrad + gi * B * dOut, dgRow: dOut,
        dlOff: gatesGrad + gate.column, dlRow: gateCols,
      }));
      backward.push(mixtureSoftmaxBackwardDispatch(ctx, `level${j}`, entries, { gateW: buffers.act, z: buffers.act, dG: buffers.act, dLogit: buffers.act }));
    }
    const expertGrads: ExpertGradEntry[] = experts.map(({ e }) => ({
      rows: B, d: dOut,
      members: level.gates.flatMap((gate, gi) =>
        gate.members.flatMap((m, p) => (m === e ? [{ wCol: gate.column + p, dgOff: outGrad + gi * B * dOut }] : [])),
      ),
      wOff: gatesOff, wRow: gateCols, dgRow: dOut,
      dzOff: av(`level${j}.layer${L}.grad`) + e * dOut, dzRow: E * dOut,
    }));
    backward.push(mixtureBackwardDispatch(ctx, `level${j}`, expertGrads, { gateW: buffers.act, dG: buffers.act, dZ: buffers.act }));

    const inputGradWritten = level.groups.map(() => false);
    for (let l = L; l >= 0; l--) {
      const h = level.widths[l];
      const hin = l === 0 ? level.inDim : level.widths[l - 1];
      const y = av(`level${j}.layer${l}`);
      const dy = av(`level${j}.layer${l}.grad`);
      const biasEntries: BiasActEntry[] = experts.map(({ g, i, e }) => ({
        rows: B, cols: h, relu: true,
        dyOff: dy + e * h, dyRow: E * h, yOff: y + e * h, yRow: E * h,
        dbOff: pv(names.expertBias(j, g.name, l)) + i * h,
      }));
      backward.push(biasActBackwardDispatch(ctx, `level${j}.layer${l}`, biasEntries, { dY: buffers.act, y: buffers.act, db: buffers.grads }));
      if (l > 0) {
        const x = av(`level${j}.layer${l - 1}`);
        backward.push(
          gemm(`level${j}.layer${l}.dW`, experts.map(({ g, i, e }) => ({
            m: hin, n: h, k: B,
            aOff: x + e * hin, aRow: 1, aCol: E * hin,
            bOff: dy + e * h, bRow: E * h, bCol: 1,
            cOff: pv(names.expertWeight(j, g.name, l)) + i * hin * h, cRow: h,
          })), { a: buffers.act, b: buffers.act, c: buffers.grads }),
        );
        backward.push(
          gemm(`level${j}.layer${l}.dX`, experts.map(({ g, i, e }) => ({
            m: B, n: hin, k: h,
            aOff: dy + e * h, aRow: E * h, aCol: 1,
            bOff: pv(names.expertWeight(j, g.name, l)) + i * hin * h, bRow: 1, bCol: h,
            cOff: av(`level${j}.layer${l - 1}.grad`) + e * hin, cRow: E * hin,
          })), { a: buffers.act, b: buffers.params, c: buffers.act }),
        );
      } else {
        backward.push(
          gemm(`level${j}.layer0.dW`, groupsWithExperts.map((g) => {
            const input = inputOf(j, level.groups.indexOf(g));
            return {
              m: hin, n: g.experts * h, k: B,
              aOff: input.off, aRow: 1, aCol: input.row,
              bOff: dy + g.firstExpert * h, bRow: E * h, bCol: 1,
              cOff: pv(names.expertWeight(j, g.name, 0)), cRow: g.experts * h,
            };
          }), { a: inBuffer, b: buffers.act, c: buffers.grads }),
        );
        if (wantInputGrad(j)) {
          backward.push(
            gemm(`level${j}.layer0.dX`, groupsWithExperts.map((g) => {
              const gi = level.groups.indexOf(g);
              inputGradWritten[gi] = true;
              return {
                m: B, n: hin, k: g.experts * h,
                aOff: dy + g.firstExpert * h, aRow: E * h, aCol: 1,
                bOff: pv(names.expertWeight(j, g.name, 0)), bRow: 1, bCol: g.experts * h,
                cOff: inputOf(j, gi).gradOff, cRow: hin,
              };
            }), { a: buffers.act, b: buffers.params, c: buffers.act }),
          );
        }
      }
    }

    if (paramGates.length > 0) {
      if (spec.config.gateBias) {
        backward.push(
          biasActBackwardDispatch(ctx, `level${j}.gates`, paramGates.map(({ gate }) => ({
            rows: B, cols: gate.members.length, relu: false,
            dyOff: gatesGrad + gate.column, dyRow: gateCols, yOff: gatesGrad + gate.column, yRow: gateCols,
            dbOff: pv(names.gateBias(j, gate.name)),
          })), { dY: buffers.act, y: buffers.act, db: buffers.grads }),
        );
      }
      backward.push(
        gemm(`level${j}.gates.dW`, paramGates.map(({ gate }) => {
          const input = inputOf(j, gate.group);
          return {
            m: level.inDim, n: gate.members.length, k: B,
            aOff: input.off, aRow: 1, aCol: input.row,
            bOff: gatesGrad + gate.column, bRow: gateCols, bCol: 1,
            cOff: pv(names.gateWeight(j, gate.name)), cRow: gate.members.length,
          };
        }), { a: inBuffer, b: buffers.act, c: buffers.grads }),
      );
      if (wantInputGrad(j)) {
        backward.push(
          gemm(`level${j}.gates.dX`, paramGates.map(({ gate }) => {
            const accumulate = inputGradWritten[gate.group];
            inputGradWritten[gate.group] = true;
            return {
              m: B, n: level.inDim, k: gate.members.length,
              aOff: gatesGrad + gate.column, aRow: gateCols, aCol: 1,
              bOff: pv(names.gateWeight(j, gate.name)), bRow: 1, bCol: gate.members.length,
              cOff: inputOf(j, gate.group).gradOff, cRow: level.inDim, accumulate,
            };
          }), { a: buffers.act, b: buffers.params, c: buffers.act }),
        );
      }
    }
    // An input nothing reads (a group without experts behind a parameterless gate) has zero gradient.
    if (wantInputGrad(j)) {
      inputGradWritten.forEach((written, g) => {
        if (!written) backward.push({ clear: { buffer: buffers.act, offset: inputOf(j, g).gradOff, size: B * level.inDim, label: `input gradient ${j}.${g}` } });
      });
    }
  }

  if (tables > 0) {
    // Table rows the batch does not look up get a zero gradient; the rest are summed by the kernel.
    const first = P.get(names.embedding(spec.embeddings[0].name));
    const last = P.get(names.embedding(spec.embeddings[tables - 1].name));
    backward.push({ clear: { buffer: buffers.grads, offset: first.offset, size: last.offset + last.size - first.offset, label: 'embedding gradients' } });
    const groups = spec.levels[0].groups.length;
    const entries: ScatterEntry[] = spec.embeddings.map((e, t) => ({
      capacity: B, dim: e.dim,
      csrOff: I.get('csr').offset + t * csrWords(B),
      dxOff: av('input.grad') + e.column, dxRow: spec.modelInputDim, groups, groupStride: B * spec.modelInputDim,
      gradOff: pv(names.embedding(e.name)),
    }));
    backward.push(
      embeddingBackwardDispatch(ctx, 'tables', entries, spec.embeddings.map((e) => e.vocabulary), { csr: buffers.input, dx: buffers.act, grad: buffers.grads }),
    );
  }

  const gradNorm = track(gradNormDispatch(ctx, { uniform: buffers.clipUniform, grads: buffers.grads, out: buffers.clip }));
  const optimizer = track(
    optimizerDispatch(ctx, P.size, {
      uniform: buffers.optimizerUniform, params: buffers.params, grads: buffers.grads, m1: buffers.m1, m2: buffers.m2, clip: buffers.clip,
    }),
  );
  const lossOps: Promise<Dispatch>[] = spec.config.uncertaintyWeighting
    ? [track(uncertaintyDispatch(ctx, { ...uncertainty, phase: 0 }, uncertaintyBuffers)), lossDispatch, track(uncertaintyDispatch(ctx, { ...uncertainty, phase: 1 }, uncertaintyBuffers))]
    : [lossDispatch];

  const toOps = async (list: PendingOp[]): Promise<Op[]> => {
    const resolved = await Promise.all(list);
    return resolved.map((r) =>
      'clear' in r
        ? { kind: 'clear' as const, buffer: r.clear.buffer, offset: r.clear.offset * 4, size: r.clear.size * 4, label: r.clear.label }
        : { kind: 'dispatch' as const, dispatch: r },
    );
  };
  return {
    spec,
    batchSize: B,
    params: P,
    input: I,
    act: A,
    buffers,
    forward: await toOps(forward),
    loss: await toOps(lossOps),
    backward: await toOps(backward),
    optimizer: await toOps([gradNorm, optimizer]),
    memory,
  };
}

/** Frees every buffer of the plan. */
export function destroyPlan(ctx: GpuContext, plan: Plan): void {
  for (const op of [...plan.forward, ...plan.loss, ...plan.backward, ...plan.optimizer]) {
    if (op.kind === 'dispatch') for (const b of op.dispatch.owned) ctx.destroyBuffer(b);
  }
  for (const b of Object.values(plan.buffers)) ctx.destroyBuffer(b);
}

