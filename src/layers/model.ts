/**
 * A model as its layers, in forward order, and a training step as the ops they emit:
 * the one description the planner (src/plan.ts) builds and the tuner (src/tuning.ts) times.
 */
import type { ModelSpec } from '../spec.js';
import { ArenaLayout } from '../arena.js';
import { csrWords } from '../kernels/embedding.js';
import { EmbeddingLayer } from './embedding.js';
import { ExpertLayer } from './experts.js';
import { GateLayer } from './gates.js';
import { LevelInput } from './level_input.js';
import { LossLayer } from './loss.js';
import { OptimizerLayer } from './optimizer.js';
import { TowerLayer } from './tower.js';
import type { GemmOp, Layer, OpDesc, StepContext, StepOps } from './ops.js';

/** The layers of a model at batch capacity B: embeddings, then per level its expert layers and its gates, the towers, the loss, the optimizer. */
export function modelLayers(spec: ModelSpec, B: number): Layer[] {
  const tables = spec.embeddings.length > 0;
  const inputs = spec.levels.map((level) => new LevelInput(level, level.index > 0 || tables));
  const layers: Layer[] = [];
  if (tables) layers.push(new EmbeddingLayer(spec, inputs[0], B));
  for (const level of spec.levels) {
    const j = level.index;
    level.widths.forEach((_, l) => layers.push(new ExpertLayer(level, l, inputs[j], B)));
    layers.push(new GateLayer(level, spec.config.gateBias, inputs[j], inputs[j + 1] ?? null, B));
  }
  spec.towerDims.forEach((_, l) => layers.push(new TowerLayer(spec, l, B)));
  layers.push(new LossLayer(spec), new OptimizerLayer());
  return layers;
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

/** The activation arena: every layer's declared activations, in model order (names: ./activations.ts). */
export function activationLayout(spec: ModelSpec, B: number, align: number): ArenaLayout {
  return declareActivations(modelLayers(spec, B), align);
}

function declareActivations(layers: Layer[], align: number): ArenaLayout {
  const layout = new ArenaLayout('activations', align);
  for (const layer of layers) layer.declare?.(layout);
  return layout;
}

export interface StepDescription extends StepContext {
  ops: StepOps;
}

/**
 * Describes a training step at batch capacity B with arena offsets aligned to `align`
 * elements: the layouts, then every layer's forward ops in model order, the loss, every
 * layer's backward ops in reverse order, and the update.
 */
export function describeStep(spec: ModelSpec, B: number, align: number): StepDescription {
  const layers = modelLayers(spec, B);
  const c: StepContext = { spec, B, params: paramLayout(spec, align), input: inputLayout(spec, B, align), activations: declareActivations(layers, align) };
  const ops: StepOps = { forward: [], loss: [], backward: [], optimizer: [] };
  for (const layer of layers) layer.forward?.(c, ops.forward);
  for (const layer of layers) layer.loss?.(c, ops.loss);
  for (const layer of [...layers].reverse()) layer.backward?.(c, ops.backward);
  for (const layer of layers) layer.update?.(c, ops.optimizer);
  return { ...c, ops };
}

/** Every op of the step, in encoding order (forward, loss, backward, optimizer). */
export function stepOps(step: StepDescription): OpDesc[] {
  return [...step.ops.forward, ...step.ops.loss, ...step.ops.backward, ...step.ops.optimizer];
}

/** The step's batched GEMMs, in encoding order. */
export function stepGemms(step: StepDescription): GemmOp[] {
  return stepOps(step).filter((op): op is GemmOp => op.kernel === 'batched_gemm');
}
