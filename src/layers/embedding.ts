/**
 * The embedding tables: forward, each table's rows looked up into the model's input row
 * after the dense inputs; backward, the tables' gradients summed from level 1's input
 * gradients through the batch's CSR. Kernels: embedding_gather, embedding_backward.
 */
import type { ModelSpec } from '../spec.js';
import { names as params } from '../spec.js';
import type { ArenaLayout } from '../arena.js';
import { csrWords } from '../kernels/embedding.js';
import { activationNames as names } from './activations.js';
import type { LevelInput } from './level_input.js';
import type { Layer, OpDesc, StepContext } from './ops.js';

export class EmbeddingLayer implements Layer {
  constructor(
    private readonly spec: ModelSpec,
    /** Level 1's input, whose gradient reaches the tables. */
    private readonly input: LevelInput,
    private readonly B: number,
  ) {}

  declare(activations: ArenaLayout): void {
    // Level 1's groups each write their gradient of the input row here.
    activations.alloc(names.inputGrad, [this.spec.levels[0].groups.length, this.B, this.spec.modelInputDim]);
  }

  forward(c: StepContext, ops: OpDesc[]): void {
    const { spec, B } = c;
    const T = spec.embeddings.length;
    ops.push({
      kernel: 'embedding_gather',
      name: 'input',
      entries: spec.embeddings.map((e, t) => ({
        rows: B, dim: e.dim, vocabulary: e.vocabulary,
        idxOff: c.input.get('indices').offset + t, idxRow: T,
        tableOff: c.params.get(params.embedding(e.name)).offset,
        xOff: c.input.get('x').offset + e.column, xRow: spec.modelInputDim,
      })),
      buffers: { indices: 'input', tables: 'params', x: 'input' },
    });
  }

  backward(c: StepContext, ops: OpDesc[]): void {
    const { spec, B } = c;
    this.input.clearUnclaimed(c, ops);
    // Table rows the batch does not look up get a zero gradient; the rest are summed by the kernel.
    const first = c.params.get(params.embedding(spec.embeddings[0].name));
    const last = c.params.get(params.embedding(spec.embeddings[spec.embeddings.length - 1].name));
    ops.push({ kernel: 'clear', name: 'embedding gradients', buffer: 'grads', offset: first.offset, size: last.offset + last.size - first.offset });
    ops.push({
      kernel: 'embedding_backward',
      name: 'tables',
      entries: spec.embeddings.map((e, t) => ({
        capacity: B, dim: e.dim,
        csrOff: c.input.get('csr').offset + t * csrWords(B),
        dxOff: c.activations.get(names.inputGrad).offset + e.column, dxRow: spec.modelInputDim,
        groups: spec.levels[0].groups.length, groupStride: B * spec.modelInputDim,
        gradOff: c.params.get(params.embedding(e.name)).offset,
      })),
      vocabulary: spec.embeddings.map((e) => e.vocabulary),
      buffers: { csr: 'input', dx: 'act', grad: 'grads' },
    });
  }
}
