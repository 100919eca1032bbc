/**
 * Parameter initialisation. Every expert is drawn independently (identical
 * experts would leave the gates unable to tell them apart). Weights of ReLU
 * layers use He-uniform, others (gates, final tower layer) Glorot-uniform;
 * biases start at zero; embedding tables uniform in [-0.05, 0.05].
 */
import { Rng } from './rng.js';
import type { ModelSpec } from './spec.js';

/** Parameter tensors by name (names as in {@link ModelSpec.params}); each row-major, of the parameter's size. */
export type ParamTensors = Map<string, Float32Array>;

/**
 * Initial parameters of a model, repeatable from `seed`: He-uniform weights for ReLU layers,
 * Glorot-uniform for gates and the last tower layer, zero biases, embedding rows uniform in
 * [-0.05, 0.05]. {@link Trainer.create} calls it; use it directly to start a reference model alike.
 */
export function initParams(spec: ModelSpec, seed: number): ParamTensors {
  const rng = new Rng(seed);
  const out: ParamTensors = new Map();
  for (const p of spec.params) {
    const data = new Float32Array(p.size);
    if (p.kind === 'embedding') {
      for (let i = 0; i < data.length; i++) data[i] = rng.range(-0.05, 0.05);
    } else if (p.kind === 'weight') {
      const bound = p.relu ? Math.sqrt(6 / p.fanIn) : Math.sqrt(6 / (p.fanIn + p.fanOut));
      for (let i = 0; i < data.length; i++) data[i] = rng.range(-bound, bound);
    }
    out.set(p.name, data);
  }
  return out;
}
