/**
 * The same PLE model in TensorFlow.js, for the benchmark: the same spec
 * (src/spec.ts conventions), the same initial parameters (src/init.ts, same
 * seed), the same batch, BCE on logits, Adam. Expert layers are Linear+ReLU,
 * gates softmax(x W) (no bias unless the config asks), every level but the last
 * has a shared gate over all experts; towers ReLU hidden layers then Linear to 1.
 */
import type * as TF from '@tensorflow/tfjs';
import type { ModelSpec } from '../src/spec.js';
import { names } from '../src/spec.js';
import { initParams } from '../src/init.js';
import type { BenchConfig, StepTiming } from './common.js';
import { benchBatch } from './common.js';

export function tfjsPle(tf: typeof TF, spec: ModelSpec, seed: number) {
  const init = initParams(spec, seed);
  const vars = new Map<string, TF.Variable>();
  for (const p of spec.params) vars.set(p.name, tf.variable(tf.tensor(init.get(p.name)!, p.shape), true, p.name.replace(/[^A-Za-z0-9_]/g, '_')));
  const v = (name: string) => {
    const x = vars.get(name);
    if (!x) throw new Error(`no parameter ${name}`);
    return x;
  };
  const K = spec.numTasks;

  function loss(x: TF.Tensor2D, y: TF.Tensor2D): TF.Scalar {
    let inputs: TF.Tensor2D[] = Array.from({ length: K + 1 }, () => x);
    for (const level of spec.levels) {
      const j = level.index;
      const z: TF.Tensor2D[] = new Array(level.numExperts);
      level.groups.forEach((g, gi) => {
        if (g.experts === 0) return;
        const h0 = level.widths[0];
        const wide = tf.relu(tf.add(tf.matMul(inputs[gi], v(names.expertWeight(j, g.name, 0))), v(names.expertBias(j, g.name, 0)))) as TF.Tensor2D;
        let parts = g.experts === 1 ? [wide] : (tf.split(wide, g.experts, 1) as TF.Tensor2D[]);
        let hin = h0;
        for (let l = 1; l < level.widths.length; l++) {
          const h = level.widths[l];
          const W = tf.unstack(v(names.expertWeight(j, g.name, l))) as TF.Tensor2D[]; // [experts][hin, h]
          const b = tf.split(v(names.expertBias(j, g.name, l)), g.experts, 0);
          parts = parts.map((p, i) => tf.relu(tf.add(tf.matMul(p, W[i]), b[i])) as TF.Tensor2D);
          hin = h;
        }
        void hin;
        parts.forEach((p, i) => (z[g.firstExpert + i] = p));
      });
      inputs = level.gates.map((gate) => {
        if (!gate.hasParams) return z[gate.members[0]];
        let logits = tf.matMul(inputs[gate.group], v(names.gateWeight(j, gate.name)));
        if (spec.config.gateBias) logits = tf.add(logits, v(names.gateBias(j, gate.name)));
        const w = tf.softmax(logits); // [B, n]
        const stacked = tf.stack(gate.members.map((m) => z[m]), 1); // [B, n, d]
        return tf.sum(tf.mul(tf.expandDims(w, 2), stacked), 1) as TF.Tensor2D;
      });
    }
    const B = x.shape[0];
    let total: TF.Scalar = tf.scalar(0);
    const last = spec.towerDims.length - 1;
    for (let k = 0; k < K; k++) {
      let h = inputs[k];
      spec.towerDims.forEach((_, l) => {
        const o = tf.add(tf.matMul(h, v(names.towerWeight(k, l))), v(names.towerBias(k, l))) as TF.Tensor2D;
        h = l < last ? tf.relu(o) : o;
      });
      const labels = tf.slice(y, [0, k], [B, 1]);
      const lk = tf.losses.sigmoidCrossEntropy(labels, h) as TF.Scalar; // mean over the batch
      total = tf.add(total, tf.mul(lk, spec.config.tasks[k].weight)) as TF.Scalar;
    }
    return total;
  }

  return { vars, loss, dispose: () => vars.forEach((x) => x.dispose()) };
}

/** Times a tfjs training step (optimizer.minimize with Adam) on the active backend. */
export async function timeTfjs(
  tf: typeof TF,
  system: string,
  spec: ModelSpec,
  c: BenchConfig,
  o: { warmup: number; steps: number; seed?: number; log?: (s: string) => void; /** The step (1-based, warm-up included) whose loss lossAt reports (default: the last). */ lossStep?: number },
): Promise<StepTiming> {
  const t0 = performance.now();
  const model = tfjsPle(tf, spec, o.seed ?? 1);
  const batch = benchBatch(c);
  const x = tf.tensor2d(batch.x, [c.batchSize, c.inputDim]);
  const y = tf.tensor2d(batch.labels, [c.batchSize, c.tasks]);
  const optimizer = tf.train.adam(1e-3, 0.9, 0.999, 1e-8);
  const varList = [...model.vars.values()];
  const step = () => optimizer.minimize(() => model.loss(x, y), true, varList)!;
  const createMs = performance.now() - t0;
  const warmupMs: number[] = [];
  const lossStep = o.lossStep ?? o.warmup + o.steps;
  let firstLoss = NaN;
  let lossAt = { step: lossStep, loss: NaN };
  for (let i = 0; i < o.warmup; i++) {
    const s = performance.now();
    const l = step();
    const value = (await l.data())[0];
    l.dispose();
    if (i === 0) firstLoss = value;
    if (i + 1 === lossStep) lossAt = { step: lossStep, loss: value };
    warmupMs.push(performance.now() - s);
    o.log?.(`${system} ${c.name}: warm-up step ${i + 1} ${warmupMs[i].toFixed(0)} ms`);
  }
  const s = performance.now();
  let last: TF.Scalar | null = null;
  // The loss tensor of step lossStep is kept and read after the timing, adding no synchronisation.
  let kept: TF.Scalar | null = null;
  for (let i = 0; i < o.steps; i++) {
    if (last !== kept) last?.dispose();
    last = step();
    if (o.warmup + i + 1 === lossStep) kept = last;
  }
  if (last) await last.data(); // synchronises: the timed steps are done
  const totalMs = performance.now() - s;
  if (kept) lossAt = { step: lossStep, loss: (await kept.data())[0] };
  if (kept !== last) kept?.dispose();
  last?.dispose();
  o.log?.(`${system} ${c.name}: ${(totalMs / o.steps).toFixed(1)} ms/step over ${o.steps} steps`);
  const tensors = tf.memory().numTensors;
  x.dispose();
  y.dispose();
  optimizer.dispose();
  model.dispose();
  return {
    system, config: c.name, createMs, warmupMs, steps: o.steps, totalMs,
    msPerStep: totalMs / o.steps, stepsPerSec: (1000 * o.steps) / totalMs, firstLoss, lossAt,
    note: `${tensors} live tensors during training`,
  };
}
