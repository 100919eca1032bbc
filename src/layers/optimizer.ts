/**
 * The update: the global gradient norm and clipping scale, then one fused optimizer step
 * over the whole parameter arena. Kernels: grad_norm, optimizer.
 */
import type { Layer, OpDesc, StepContext } from './ops.js';

export class OptimizerLayer implements Layer {
  update(c: StepContext, ops: OpDesc[]): void {
    ops.push(
      { kernel: 'grad_norm', name: 'step', buffers: { uniform: 'clipUniform', grads: 'grads', out: 'clip' } },
      { kernel: 'optimizer', name: 'step', count: c.params.size, buffers: { uniform: 'optimizerUniform', params: 'params', grads: 'grads', m1: 'm1', m2: 'm2', clip: 'clip' } },
    );
  }
}
