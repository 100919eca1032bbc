/**
 * Layer l of the task towers, all tasks in one dispatch: forward Y = act(X W + b)
 * (ReLU except on the last layer, which gives the logits), backward the bias/ReLU
 * gradient, dW and dX. Layer 0 reads the last level's task mixtures.
 * Kernels: batched_gemm, bias_act_backward.
 */
import type { ModelSpec } from '../spec.js';
import { names as params } from '../spec.js';
import type { ArenaLayout } from '../arena.js';
import { activationNames as names, declareWithGrad } from './activations.js';
import type { Layer, OpDesc, StepContext } from './ops.js';

export class TowerLayer implements Layer {
  private readonly t: number;
  private readonly relu: boolean;
  private readonly name: string;

  constructor(
    private readonly spec: ModelSpec,
    private readonly l: number,
    private readonly B: number,
  ) {
    this.t = spec.towerDims[l];
    this.relu = l < spec.towerDims.length - 1;
    this.name = names.towerLayer(l);
  }

  declare(activations: ArenaLayout): void {
    declareWithGrad(activations, this.name, [this.spec.numTasks, this.B, this.t]);
  }

  /** Task k's input: the last level's mixture k, or the previous tower layer's rows of task k. */
  private inputOf(c: StepContext, k: number) {
    const { B } = c;
    const from = this.l === 0 ? names.mixtures(this.spec.levels.length - 1) : names.towerLayer(this.l - 1);
    const width = this.l === 0 ? this.spec.towerIn : this.spec.towerDims[this.l - 1];
    return { off: c.activations.get(from).offset + k * B * width, gradOff: c.activations.get(names.grad(from)).offset + k * B * width, width };
  }

  private tasks(): number[] {
    return Array.from({ length: this.spec.numTasks }, (_, k) => k);
  }

  forward(c: StepContext, ops: OpDesc[]): void {
    const { B } = c;
    const { t, l } = this;
    const y = c.activations.get(this.name).offset;
    ops.push({
      kernel: 'batched_gemm', name: this.name, layout: 'forward',
      entries: this.tasks().map((k) => {
        const input = this.inputOf(c, k);
        return {
          m: B, n: t, k: input.width,
          aOff: input.off, aRow: input.width, aCol: 1,
          bOff: c.params.get(params.towerWeight(k, l)).offset, bRow: t, bCol: 1,
          cOff: y + k * B * t, cRow: t,
          biasOff: c.params.get(params.towerBias(k, l)).offset, relu: this.relu,
        };
      }),
      buffers: { a: 'act', b: 'params', c: 'act', bias: 'params' },
    });
  }

  backward(c: StepContext, ops: OpDesc[]): void {
    const { B } = c;
    const { t, l } = this;
    const y = (k: number) => c.activations.get(this.name).offset + k * B * t;
    const dy = (k: number) => c.activations.get(names.grad(this.name)).offset + k * B * t;
    const weight = (k: number) => c.params.get(params.towerWeight(k, l)).offset;
    ops.push({
      kernel: 'bias_act_backward',
      name: this.name,
      entries: this.tasks().map((k) => ({ rows: B, cols: t, relu: this.relu, dyOff: dy(k), dyRow: t, yOff: y(k), yRow: t, dbOff: c.params.get(params.towerBias(k, l)).offset })),
      buffers: { dY: 'act', y: 'act', db: 'grads' },
    });
    ops.push({
      kernel: 'batched_gemm', name: `${this.name}.dW`, layout: 'dW',
      entries: this.tasks().map((k) => {
        const input = this.inputOf(c, k);
        return { m: input.width, n: t, k: B, aOff: input.off, aRow: 1, aCol: input.width, bOff: dy(k), bRow: t, bCol: 1, cOff: weight(k), cRow: t };
      }),
      buffers: { a: 'act', b: 'act', c: 'grads' },
    });
    ops.push({
      kernel: 'batched_gemm', name: `${this.name}.dX`, layout: 'dX',
      entries: this.tasks().map((k) => {
        const input = this.inputOf(c, k);
        return { m: B, n: input.width, k: t, aOff: dy(k), aRow: t, aCol: 1, bOff: weight(k), bRow: 1, bCol: t, cOff: input.gradOff, cRow: input.width };
      }),
      buffers: { a: 'act', b: 'params', c: 'act' },
    });
  }
}
