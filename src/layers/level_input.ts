/**
 * The input of one level, shared by the layers that read it (the level's first expert
 * layer and its gates) and the layer that produces it (the embedding lookup, or the
 * previous level's mixtures). Readers claim each group's input gradient as they write it,
 * so the second writer accumulates; the producer clears, before reading it, any group's
 * gradient nobody wrote.
 */
import type { LevelSpec } from '../spec.js';
import { activationNames as names } from './activations.js';
import type { BufferRole, OpDesc, StepContext } from './ops.js';

export interface GroupInput {
  buffer: BufferRole;
  off: number;
  row: number;
  /** Where the loss gradient with respect to this input goes (act buffer); -1 when none is wanted. */
  gradOff: number;
}

export class LevelInput {
  private readonly written: boolean[];

  constructor(
    readonly level: LevelSpec,
    /** Level 1 needs its input's gradient only to reach the embedding tables. */
    readonly wantGrad: boolean,
  ) {
    this.written = level.groups.map(() => false);
  }

  /** Where group g reads its input, and where that input's gradient goes. */
  of(c: StepContext, g: number): GroupInput {
    const { B } = c;
    const { index: j, inDim } = this.level;
    if (j === 0) {
      const gradOff = this.wantGrad ? c.activations.get(names.inputGrad).offset + g * B * inDim : -1;
      return { buffer: 'input', off: c.input.get('x').offset, row: inDim, gradOff };
    }
    const block = B * inDim;
    const out = names.mixtures(j - 1);
    return { buffer: 'act', off: c.activations.get(out).offset + g * block, row: inDim, gradOff: c.activations.get(names.grad(out)).offset + g * block };
  }

  /** The buffer every group reads (the input arena for level 1, the activations after). */
  get buffer(): BufferRole {
    return this.level.index === 0 ? 'input' : 'act';
  }

  /** Claims group g's input gradient for a write; true when an earlier op wrote it, so this one must accumulate. */
  claimGrad(g: number): boolean {
    const before = this.written[g];
    this.written[g] = true;
    return before;
  }

  /** Zero-fills the gradient of every group input nothing wrote (a group without experts behind a parameterless gate). */
  clearUnclaimed(c: StepContext, ops: OpDesc[]): void {
    if (!this.wantGrad) return;
    this.written.forEach((written, g) => {
      if (!written) ops.push({ kernel: 'clear', name: `input gradient ${this.level.index}.${g}`, buffer: 'act', offset: this.of(c, g).gradOff, size: c.B * this.level.inDim });
    });
  }
}
