/**
 * The masked, weighted task losses (PLE eq. 8-9) and the logits' gradient; with
 * uncertainty weighting, the effective weights w_k exp(-s_k) before the losses and the
 * log-variances' gradients after them. Kernels: task_loss, uncertainty.
 */
import type { ModelSpec } from '../spec.js';
import { names as params } from '../spec.js';
import type { ArenaLayout } from '../arena.js';
import { activationNames as names } from './activations.js';
import type { Layer, OpDesc, StepContext } from './ops.js';

export class LossLayer implements Layer {
  constructor(private readonly spec: ModelSpec) {}

  declare(activations: ArenaLayout): void {
    activations.alloc(names.loss, [this.spec.numTasks, 2]);
  }

  loss(c: StepContext, ops: OpDesc[]): void {
    const { spec, B } = c;
    const K = spec.numTasks;
    const logits = c.activations.get(names.logits(spec)).offset;
    const dLogits = c.activations.get(names.grad(names.logits(spec))).offset;
    const lossOff = c.activations.get(names.loss).offset;
    const taskLoss: OpDesc = {
      kernel: 'task_loss',
      name: 'tasks',
      entries: spec.config.tasks.map((task, k) => ({
        type: task.type, rows: B, task: k,
        logitOff: logits + k * B,
        labelOff: c.input.get('labels').offset + k, labelRow: K,
        maskOff: c.input.get('mask').offset + k, maskRow: K,
        dOff: dLogits + k * B,
        outOff: lossOff,
      })),
      buffers: { weights: 'taskWeights', logits: 'act', labels: 'input', dLogits: 'act', out: 'act' },
    };
    if (!spec.config.uncertaintyWeighting) {
      ops.push(taskLoss);
      return;
    }
    const uncertainty = (phase: 0 | 1): OpDesc => ({
      kernel: 'uncertainty',
      name: `phase${phase}`,
      entry: { phase, tasks: K, sOff: c.params.get(params.logVariance).offset, lossOff },
      buffers: { base: 'baseWeights', params: 'params', effective: 'taskWeights', act: 'act', grads: 'grads' },
    });
    ops.push(uncertainty(0), taskLoss, uncertainty(1));
  }
}
