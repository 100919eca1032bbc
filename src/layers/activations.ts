/**
 * The names of the activation arena's views, defined once: what the layers declare
 * and the trainer (Trainer.readActivation, infer) and tests read.
 *
 * Layout of level j (B = batch capacity, E = experts of the level):
 *   level{j}.layer{l}  [B, E*h_l]     expert outputs side by side, expert e in columns e*h_l..
 *   level{j}.gates     [B, columns]   gate weights, gate g in columns gate.column..
 *   level{j}.out       [gates, B, d]  one mixture per gate; the next level's group inputs
 * Towers: tower.layer{l} [K, B, t_l]; the last layer is the logits [K, B, 1].
 * Each has a twin `<name>.grad` holding the loss gradient with respect to it. With
 * embeddings, `input.grad` [groups, B, modelInputDim] holds each level-1 group's input gradient.
 */
import type { ModelSpec } from '../spec.js';

export const activationNames = {
  expertLayer: (level: number, layer: number) => `level${level}.layer${layer}`,
  gates: (level: number) => `level${level}.gates`,
  mixtures: (level: number) => `level${level}.out`,
  towerLayer: (layer: number) => `tower.layer${layer}`,
  logits: (spec: ModelSpec) => `tower.layer${spec.towerDims.length - 1}`,
  inputGrad: 'input.grad',
  /** [K, 2]: each task's masked mean loss and labelled count. */
  loss: 'loss',
  grad: (name: string) => `${name}.grad`,
};

/** Allocates an activation and its gradient twin. */
export function declareWithGrad(activations: { alloc(name: string, shape: number[]): unknown }, name: string, shape: number[]): void {
  activations.alloc(name, shape);
  activations.alloc(activationNames.grad(name), shape);
}
