/**
 * Layer l of a level's experts, every expert of every group at once: forward
 * Z = ReLU(X W + b), backward the bias/ReLU gradient, dW and dX.
 * Layer 0 runs one wide GEMM entry per group (its experts' weights side by side);
 * deeper layers one entry per expert. Kernels: batched_gemm, bias_act_backward.
 */
import type { LevelSpec } from '../spec.js';
import { names as params } from '../spec.js';
import type { ArenaLayout } from '../arena.js';
import type { GemmEntry } from '../kernels/batched_gemm.js';
import { activationNames as names, declareWithGrad } from './activations.js';
import type { LevelInput } from './level_input.js';
import type { Layer, OpDesc, StepContext } from './ops.js';

/** Every expert of a level: its group, its index within the group, and its index in the level. */
export function expertsOf(level: LevelSpec) {
  return level.groups.flatMap((g) => Array.from({ length: g.experts }, (_, i) => ({ g, i, e: g.firstExpert + i })));
}

export class ExpertLayer implements Layer {
  private readonly j: number;
  private readonly h: number;
  private readonly hin: number;
  private readonly out: string;

  constructor(
    private readonly level: LevelSpec,
    private readonly l: number,
    /** The level's input (read by layer 0 only). */
    private readonly input: LevelInput,
    private readonly B: number,
  ) {
    this.j = level.index;
    this.h = level.widths[l];
    this.hin = l === 0 ? level.inDim : level.widths[l - 1];
    this.out = names.expertLayer(this.j, l);
  }

  declare(activations: ArenaLayout): void {
    declareWithGrad(activations, this.out, [this.B, this.level.numExperts * this.h]);
  }

  forward(c: StepContext, ops: OpDesc[]): void {
    const { B } = c;
    const { level, j, l, h, hin } = this;
    const E = level.numExperts;
    const out = c.activations.get(this.out).offset;
    const paramAt = (name: string) => c.params.get(name).offset;
    const entries: GemmEntry[] =
      l === 0
        ? this.groups().map(({ g, gi }) => {
            const input = this.input.of(c, gi);
            return {
              m: B, n: g.experts * h, k: hin,
              aOff: input.off, aRow: input.row, aCol: 1,
              bOff: paramAt(params.expertWeight(j, g.name, 0)), bRow: g.experts * h, bCol: 1,
              cOff: out + g.firstExpert * h, cRow: E * h,
              biasOff: paramAt(params.expertBias(j, g.name, 0)), relu: true,
            };
          })
        : expertsOf(level).map(({ g, i, e }) => ({
            m: B, n: h, k: hin,
            aOff: c.activations.get(names.expertLayer(j, l - 1)).offset + e * hin, aRow: E * hin, aCol: 1,
            bOff: paramAt(params.expertWeight(j, g.name, l)) + i * hin * h, bRow: h, bCol: 1,
            cOff: out + e * h, cRow: E * h,
            biasOff: paramAt(params.expertBias(j, g.name, l)) + i * h, relu: true,
          }));
    const a = l === 0 ? this.input.buffer : 'act';
    ops.push({ kernel: 'batched_gemm', name: this.out, layout: 'forward', entries, buffers: { a, b: 'params', c: 'act', bias: 'params' } });
  }

  backward(c: StepContext, ops: OpDesc[]): void {
    const { B } = c;
    const { level, j, l, h, hin } = this;
    const E = level.numExperts;
    const experts = expertsOf(level);
    const paramAt = (name: string) => c.params.get(name).offset;
    const y = c.activations.get(this.out).offset;
    const dy = c.activations.get(names.grad(this.out)).offset;
    ops.push({
      kernel: 'bias_act_backward',
      name: this.out,
      entries: experts.map(({ g, i, e }) => ({
        rows: B, cols: h, relu: true,
        dyOff: dy + e * h, dyRow: E * h, yOff: y + e * h, yRow: E * h,
        dbOff: paramAt(params.expertBias(j, g.name, l)) + i * h,
      })),
      buffers: { dY: 'act', y: 'act', db: 'grads' },
    });
    if (l > 0) {
      const x = c.activations.get(names.expertLayer(j, l - 1)).offset;
      const dx = c.activations.get(names.grad(names.expertLayer(j, l - 1))).offset;
      ops.push({
        kernel: 'batched_gemm', name: `${this.out}.dW`, layout: 'dW',
        entries: experts.map(({ g, i, e }) => ({
          m: hin, n: h, k: B,
          aOff: x + e * hin, aRow: 1, aCol: E * hin,
          bOff: dy + e * h, bRow: E * h, bCol: 1,
          cOff: paramAt(params.expertWeight(j, g.name, l)) + i * hin * h, cRow: h,
        })),
        buffers: { a: 'act', b: 'act', c: 'grads' },
      });
      ops.push({
        kernel: 'batched_gemm', name: `${this.out}.dX`, layout: 'dX',
        entries: experts.map(({ g, i, e }) => ({
          m: B, n: hin, k: h,
          aOff: dy + e * h, aRow: E * h, aCol: 1,
          bOff: paramAt(params.expertWeight(j, g.name, l)) + i * hin * h, bRow: 1, bCol: h,
          cOff: dx + e * hin, cRow: E * hin,
        })),
        buffers: { a: 'act', b: 'params', c: 'act' },
      });
      return;
    }
    ops.push({
      kernel: 'batched_gemm', name: `${this.out}.dW`, layout: 'dW',
      entries: this.groups().map(({ g, gi }) => {
        const input = this.input.of(c, gi);
        return {
          m: hin, n: g.experts * h, k: B,
          aOff: input.off, aRow: 1, aCol: input.row,
          bOff: dy + g.firstExpert * h, bRow: E * h, bCol: 1,
          cOff: paramAt(params.expertWeight(j, g.name, 0)), cRow: g.experts * h,
        };
      }),
      buffers: { a: this.input.buffer, b: 'act', c: 'grads' },
    });
    if (!this.input.wantGrad) return;
    ops.push({
      kernel: 'batched_gemm', name: `${this.out}.dX`, layout: 'dX',
      entries: this.groups().map(({ g, gi }) => ({
        m: B, n: hin, k: g.experts * h,
        aOff: dy + g.firstExpert * h, aRow: E * h, aCol: 1,
        bOff: paramAt(params.expertWeight(j, g.name, 0)), bRow: 1, bCol: g.experts * h,
        cOff: this.input.of(c, gi).gradOff, cRow: hin, accumulate: this.input.claimGrad(gi),
      })),
      buffers: { a: 'act', b: 'params', c: 'act' },
    });
  }

  /** The level's groups that have experts, with their index in the level. */
  private groups() {
    return this.level.groups.map((g, gi) => ({ g, gi })).filter(({ g }) => g.experts > 0);
  }
}
