/**
 * The float64 CPU reference of the whole model, forward and backward, written
 * for clarity rather than speed: one expert at a time, plain loops. It is the
 * oracle the GPU runtime is tested against, and is itself checked against
 * finite differences (test/reference.test.ts).
 */
import type { ModelSpec, LevelSpec } from '../spec.js';
import { names } from '../spec.js';
import type { Batch } from '../data/batch.js';

/** Tensors by name in float64, for the CPU reference (same names and layout as {@link ParamTensors}). */
export type Tensors64 = Map<string, Float64Array>;

/** One level's intermediate values in a {@link ForwardTrace}. */
export interface LevelTrace {
  /** Input of each group (rows x inDim). */
  inputs: Float64Array[];
  /** Output of each expert layer: experts[e][l] (rows x widths[l]). */
  experts: Float64Array[][];
  /** Gate weights per gate (rows x members). */
  gates: Float64Array[];
  /** Output per gate (rows x outDim). */
  outputs: Float64Array[];
}

/**
 * A ReLU pre-activation within float32 rounding of zero: |z| <= KINK_TOLERANCE * (|b| + sum_a |x_a w_a|).
 * The GPU computes z in f32 from f32 inputs that carry their own rounding, so such a value may land
 * on the other side of the kink there, and the sample's share of every gradient below it changes.
 * Tests comparing the GPU with this reference redraw inputs that have any (ForwardTrace.nearKinks).
 */
export interface NearKink {
  /** The layer, e.g. 'level0 expert 2 layer 1' or 'tower 0 layer 0'. */
  layer: string;
  row: number;
  unit: number;
  z: number;
  /** |b| + sum_a |x_a w_a|, the size of the terms z sums. */
  magnitude: number;
}

/** Relative size of a pre-activation, against its terms, below which it counts as at the kink (about 170 f32 ulps). */
export const KINK_TOLERANCE = 1e-5;

/** Every intermediate value of a reference forward pass, in float64, row-major. */
export interface ForwardTrace {
  rows: number;
  /** The model's input rows: dense inputs, then the embedding vectors (rows x modelInputDim). */
  input: Float64Array;
  /** Per level: group inputs, expert outputs, gate weights and gate outputs. */
  levels: LevelTrace[];
  /** towers[k][l]: output of tower layer l of task k (rows x towerDims[l]); the last is the logit. */
  towers: Float64Array[][];
  /** Per task: the logit (binary) or prediction (regression) of each row. */
  logits: Float64Array[];
  /** ReLU pre-activations within f32 rounding of zero (see NearKink). */
  nearKinks: NearKink[];
}

/** The result of {@link referenceLoss}. */
export interface LossResult {
  /** Unweighted masked mean loss per task (eq. 9). */
  taskLoss: number[];
  /** Number of labelled samples per task. */
  taskCount: number[];
  /** sum_k w_k L_k (eq. 8). */
  total: number;
  /** d total / d logit, per task (rows). */
  dLogits: Float64Array[];
  /** d total / d s_k under uncertainty weighting. */
  dLogVariance?: number[];
}

/** Linear layer Y = act(X W + b) on contiguous row-major matrices; W is read through `w(a, o)`. */
function linear(
  X: Float64Array,
  rows: number,
  inDim: number,
  outDim: number,
  w: (a: number, o: number) => number,
  b: (o: number) => number,
  relu: boolean,
  /** Called for each ReLU pre-activation within f32 rounding of zero. */
  nearKink?: (row: number, unit: number, z: number, magnitude: number) => void,
): Float64Array {
  const Y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let s = b(o);
      let magnitude = Math.abs(s);
      for (let a = 0; a < inDim; a++) {
        const t = X[r * inDim + a] * w(a, o);
        s += t;
        magnitude += Math.abs(t);
      }
      if (relu && nearKink && Math.abs(s) <= KINK_TOLERANCE * magnitude) nearKink(r, o, s, magnitude);
      Y[r * outDim + o] = relu ? Math.max(0, s) : s;
    }
  }
  return Y;
}

const kinkRecorder = (kinks: NearKink[], layer: string) => (row: number, unit: number, z: number, magnitude: number) => kinks.push({ layer, row, unit, z, magnitude });

/**
 * Backward of a linear layer. dY is the gradient of the layer's output (after
 * the activation); the activation's derivative is applied here. Accumulates
 * dW and db through the callbacks and returns dX when wanted.
 */
function linearBackward(
  X: Float64Array,
  Y: Float64Array,
  dY: Float64Array,
  rows: number,
  inDim: number,
  outDim: number,
  w: (a: number, o: number) => number,
  addDW: (a: number, o: number, v: number) => void,
  addDB: ((o: number, v: number) => void) | null,
  relu: boolean,
  wantDX: boolean,
): Float64Array | null {
  const dZ = new Float64Array(rows * outDim);
  for (let i = 0; i < dZ.length; i++) dZ[i] = relu && Y[i] <= 0 ? 0 : dY[i];
  for (let a = 0; a < inDim; a++) {
    for (let o = 0; o < outDim; o++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += X[r * inDim + a] * dZ[r * outDim + o];
      addDW(a, o, s);
    }
  }
  if (addDB) {
    for (let o = 0; o < outDim; o++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += dZ[r * outDim + o];
      addDB(o, s);
    }
  }
  if (!wantDX) return null;
  const dX = new Float64Array(rows * inDim);
  for (let r = 0; r < rows; r++) {
    for (let a = 0; a < inDim; a++) {
      let s = 0;
      for (let o = 0; o < outDim; o++) s += dZ[r * outDim + o] * w(a, o);
      dX[r * inDim + a] = s;
    }
  }
  return dX;
}

/** Where expert `local` of a group keeps weight (a, o) of layer l; see spec.ts for the layouts. */
function expertWeightIndex(layer: number, groupExperts: number, hin: number, h: number, local: number, a: number, o: number) {
  return layer === 0 ? a * (groupExperts * h) + local * h + o : local * hin * h + a * h + o;
}

function get(params: Tensors64, name: string): Float64Array {
  const t = params.get(name);
  if (!t) throw new Error(`reference: missing parameter ${name}`);
  return t;
}

function softmaxRows(logits: Float64Array, rows: number, n: number): Float64Array {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, logits[r * n + j]);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(logits[r * n + j] - max);
    for (let j = 0; j < n; j++) out[r * n + j] = Math.exp(logits[r * n + j] - max) / sum;
  }
  return out;
}

/** Which group an expert belongs to, and its index within the group. */
function expertHome(level: LevelSpec, e: number): { group: number; local: number } {
  const group = level.groups.findIndex((g) => e >= g.firstExpert && e < g.firstExpert + g.experts);
  return { group, local: e - level.groups[group].firstExpert };
}

function levelForward(spec: ModelSpec, level: LevelSpec, params: Tensors64, inputs: Float64Array[], rows: number, kinks: NearKink[]): LevelTrace {
  const j = level.index;
  const experts: Float64Array[][] = [];
  for (let e = 0; e < level.numExperts; e++) {
    const { group, local } = expertHome(level, e);
    const g = level.groups[group];
    const layers: Float64Array[] = [];
    let X = inputs[group];
    level.widths.forEach((h, l) => {
      const hin = l === 0 ? level.inDim : level.widths[l - 1];
      const W = get(params, names.expertWeight(j, g.name, l));
      const b = get(params, names.expertBias(j, g.name, l));
      X = linear(X, rows, hin, h, (a, o) => W[expertWeightIndex(l, g.experts, hin, h, local, a, o)], (o) => b[local * h + o], true, kinkRecorder(kinks, `level${j} expert ${e} layer ${l}`));
      layers.push(X);
    });
    experts.push(layers);
  }
  const L = level.widths.length - 1;
  const d = level.outDim;
  const gates: Float64Array[] = [];
  const outputs: Float64Array[] = [];
  for (const gate of level.gates) {
    const n = gate.members.length;
    let w: Float64Array;
    if (gate.hasParams) {
      const W = get(params, names.gateWeight(j, gate.name));
      const bias = spec.config.gateBias ? get(params, names.gateBias(j, gate.name)) : null;
      const logits = linear(inputs[gate.group], rows, level.inDim, n, (a, o) => W[a * n + o], (o) => (bias ? bias[o] : 0), false);
      w = softmaxRows(logits, rows, n);
    } else {
      w = new Float64Array(rows).fill(1);
    }
    gates.push(w);
    const out = new Float64Array(rows * d);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < n; i++) {
        const E = experts[gate.members[i]][L];
        for (let o = 0; o < d; o++) out[r * d + o] += w[r * n + i] * E[r * d + o];
      }
    }
    outputs.push(out);
  }
  return { inputs, experts, gates, outputs };
}

/**
 * The model's forward pass in float64 on the CPU: the oracle the GPU kernels are tested against.
 * `params` holds every parameter of `spec` by name ({@link toFloat64} converts a trainer's).
 */
export function referenceForward(spec: ModelSpec, params: Tensors64, batch: Batch): ForwardTrace {
  const rows = batch.rows;
  const width = spec.modelInputDim;
  const x = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    for (let a = 0; a < spec.inputDim; a++) x[r * width + a] = batch.x[r * spec.inputDim + a];
    spec.embeddings.forEach((e, t) => {
      const row = batch.categorical![r * spec.embeddings.length + t];
      const table = get(params, names.embedding(e.name));
      for (let j = 0; j < e.dim; j++) x[r * width + e.column + j] = table[row * e.dim + j];
    });
  }
  const levels: LevelTrace[] = [];
  const nearKinks: NearKink[] = [];
  let inputs: Float64Array[] = spec.levels[0].groups.map(() => x);
  for (const level of spec.levels) {
    const trace = levelForward(spec, level, params, inputs, rows, nearKinks);
    levels.push(trace);
    inputs = trace.outputs;
  }
  const last = levels[levels.length - 1];
  const towers: Float64Array[][] = [];
  for (let k = 0; k < spec.numTasks; k++) {
    let X = last.outputs[k];
    const layers: Float64Array[] = [];
    spec.towerDims.forEach((t, l) => {
      const tin = l === 0 ? spec.towerIn : spec.towerDims[l - 1];
      const W = get(params, names.towerWeight(k, l));
      const b = get(params, names.towerBias(k, l));
      X = linear(X, rows, tin, t, (a, o) => W[a * t + o], (o) => b[o], l < spec.towerDims.length - 1, kinkRecorder(nearKinks, `tower ${k} layer ${l}`));
      layers.push(X);
    });
    towers.push(layers);
  }
  return { rows, input: x, levels, towers, logits: towers.map((t) => t[t.length - 1]), nearKinks };
}

/** Per-sample loss and its derivative with respect to the logit. */
export function sampleLoss(type: 'binary' | 'regression', z: number, y: number): { loss: number; grad: number } {
  if (type === 'binary') {
    // Cross-entropy on the logit, in the numerically stable form.
    const loss = Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
    return { loss, grad: 1 / (1 + Math.exp(-z)) - y };
  }
  return { loss: (z - y) * (z - y), grad: 2 * (z - y) };
}

/**
 * Masked, weighted multi-task loss (eq. 8-9). `weights` overrides the config's static weights.
 * With uncertainty weighting, `logVariance` holds s_k: the loss is sum_k w_k (exp(-s_k) L_k + s_k).
 */
export function referenceLoss(
  spec: ModelSpec,
  logits: Float64Array[],
  batch: Batch,
  weights?: number[],
  logVariance?: ArrayLike<number>,
): LossResult {
  const K = spec.numTasks;
  const taskLoss: number[] = [];
  const taskCount: number[] = [];
  const dLogits: Float64Array[] = [];
  const dLogVariance: number[] = [];
  let total = 0;
  for (let k = 0; k < K; k++) {
    const type = spec.config.tasks[k].type;
    const base = weights ? weights[k] : spec.config.tasks[k].weight;
    const precision = logVariance ? Math.exp(-logVariance[k]) : 1;
    const wk = base * precision;
    let count = 0;
    let sum = 0;
    const grad = new Float64Array(batch.rows);
    for (let r = 0; r < batch.rows; r++) {
      const m = batch.mask ? batch.mask[r * K + k] : 1;
      if (m === 0) continue;
      const s = sampleLoss(type, logits[k][r], batch.labels[r * K + k]);
      count += 1;
      sum += s.loss;
      grad[r] = s.grad;
    }
    const Lk = count > 0 ? sum / count : 0;
    for (let r = 0; r < batch.rows; r++) grad[r] = count > 0 ? (wk * grad[r]) / count : 0;
    taskLoss.push(Lk);
    taskCount.push(count);
    dLogits.push(grad);
    total += wk * Lk + (logVariance ? base * logVariance[k] : 0);
    dLogVariance.push(base * (1 - precision * Lk));
  }
  return { taskLoss, taskCount, total, dLogits, dLogVariance: logVariance ? dLogVariance : undefined };
}

function zerosLike(params: Tensors64): Tensors64 {
  const out: Tensors64 = new Map();
  for (const [k, v] of params) out.set(k, new Float64Array(v.length));
  return out;
}

/** Gradients of the loss with respect to every parameter, by name. */
export function referenceBackward(
  spec: ModelSpec,
  params: Tensors64,
  trace: ForwardTrace,
  dLogits: Float64Array[],
  categorical?: ArrayLike<number>,
): Tensors64 {
  const grads = zerosLike(params);
  const rows = trace.rows;
  const last = trace.levels[trace.levels.length - 1];

  // Towers, last layer first. dOut[k] ends as the gradient of the last level's output k.
  let dOut: Float64Array[] = [];
  for (let k = 0; k < spec.numTasks; k++) {
    let dY: Float64Array = dLogits[k];
    for (let l = spec.towerDims.length - 1; l >= 0; l--) {
      const t = spec.towerDims[l];
      const tin = l === 0 ? spec.towerIn : spec.towerDims[l - 1];
      const X = l === 0 ? last.outputs[k] : trace.towers[k][l - 1];
      const W = get(params, names.towerWeight(k, l));
      const dW = get(grads, names.towerWeight(k, l));
      const dB = get(grads, names.towerBias(k, l));
      dY = linearBackward(
        X, trace.towers[k][l], dY, rows, tin, t,
        (a, o) => W[a * t + o],
        (a, o, v) => (dW[a * t + o] += v),
        (o, v) => (dB[o] += v),
        l < spec.towerDims.length - 1,
        true,
      )!;
    }
    dOut.push(dY);
  }

  for (let j = spec.levels.length - 1; j >= 0; j--) {
    const level = spec.levels[j];
    const tr = trace.levels[j];
    const L = level.widths.length - 1;
    const d = level.outDim;
    // Level 1's input gradient is needed only to reach the embedding tables.
    const wantDX = j > 0 || spec.embeddings.length > 0;
    const dInputs = level.groups.map(() => new Float64Array(rows * level.inDim));
    const dExpert = Array.from({ length: level.numExperts }, () => new Float64Array(rows * d));

    // Mixture and gate softmax backward.
    level.gates.forEach((gate, gi) => {
      const n = gate.members.length;
      const w = tr.gates[gi];
      const dG = dOut[gi];
      const dLogit = new Float64Array(rows * n);
      for (let r = 0; r < rows; r++) {
        const dw = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const E = tr.experts[gate.members[i]][L];
          const dE = dExpert[gate.members[i]];
          for (let o = 0; o < d; o++) {
            dw[i] += dG[r * d + o] * E[r * d + o];
            dE[r * d + o] += w[r * n + i] * dG[r * d + o];
          }
        }
        let s = 0;
        for (let i = 0; i < n; i++) s += w[r * n + i] * dw[i];
        for (let i = 0; i < n; i++) dLogit[r * n + i] = w[r * n + i] * (dw[i] - s);
      }
      if (!gate.hasParams) return;
      const W = get(params, names.gateWeight(j, gate.name));
      const dW = get(grads, names.gateWeight(j, gate.name));
      const dB = spec.config.gateBias ? get(grads, names.gateBias(j, gate.name)) : null;
      const dX = linearBackward(
        tr.inputs[gate.group], dLogit, dLogit, rows, level.inDim, n,
        (a, o) => W[a * n + o],
        (a, o, v) => (dW[a * n + o] += v),
        dB ? (o, v) => (dB[o] += v) : null,
        false,
        wantDX,
      );
      if (dX) for (let i = 0; i < dX.length; i++) dInputs[gate.group][i] += dX[i];
    });

    // Experts, last layer first.
    for (let e = 0; e < level.numExperts; e++) {
      const { group, local } = expertHome(level, e);
      const g = level.groups[group];
      let dY: Float64Array = dExpert[e];
      for (let l = L; l >= 0; l--) {
        const h = level.widths[l];
        const hin = l === 0 ? level.inDim : level.widths[l - 1];
        const X = l === 0 ? tr.inputs[group] : tr.experts[e][l - 1];
        const W = get(params, names.expertWeight(j, g.name, l));
        const dW = get(grads, names.expertWeight(j, g.name, l));
        const dB = get(grads, names.expertBias(j, g.name, l));
        const idx = (a: number, o: number) => expertWeightIndex(l, g.experts, hin, h, local, a, o);
        const dX = linearBackward(
          X, tr.experts[e][l], dY, rows, hin, h,
          (a, o) => W[idx(a, o)],
          (a, o, v) => (dW[idx(a, o)] += v),
          (o, v) => (dB[local * h + o] += v),
          true,
          l > 0 || wantDX,
        );
        if (l > 0) dY = dX!;
        else if (dX) for (let i = 0; i < dX.length; i++) dInputs[group][i] += dX[i];
      }
    }
    dOut = dInputs;
  }
  // Embedding tables: every group's gradient of the input row, summed, lands on the looked-up rows.
  const width = spec.modelInputDim;
  spec.embeddings.forEach((e, t) => {
    const dTable = get(grads, names.embedding(e.name));
    for (let r = 0; r < rows; r++) {
      const row = categorical![r * spec.embeddings.length + t];
      for (const dInput of dOut) for (let j = 0; j < e.dim; j++) dTable[row * e.dim + j] += dInput[r * width + e.column + j];
    }
  });
  return grads;
}

/** Forward, loss and backward in one call. */
export function referenceGradients(spec: ModelSpec, params: Tensors64, batch: Batch, weights?: number[]) {
  const trace = referenceForward(spec, params, batch);
  const logVariance = spec.config.uncertaintyWeighting ? get(params, names.logVariance) : undefined;
  const loss = referenceLoss(spec, trace.logits, batch, weights, logVariance);
  const grads = referenceBackward(spec, params, trace, loss.dLogits, batch.categorical);
  if (loss.dLogVariance) get(grads, names.logVariance).set(loss.dLogVariance);
  return { trace, loss, grads };
}

/** The same tensors as float64 arrays, e.g. a trainer's {@link Trainer.readParams} for the reference. */
export function toFloat64(params: Map<string, ArrayLike<number>>): Tensors64 {
  const out: Tensors64 = new Map();
  for (const [k, v] of params) out.set(k, Float64Array.from(v as ArrayLike<number>));
  return out;
}
