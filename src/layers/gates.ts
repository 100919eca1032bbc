/**
 * A level's gates and mixtures: forward the gate weights softmax(X W (+ b)) and each
 * gate's weighted sum of its experts' last-layer outputs; backward the gate-logit
 * gradient (mixture and softmax backward fused), the expert-output gradient, and the
 * gates' db, dW and dX. Kernels: gate_softmax, mixture, mixture_gate_grad,
 * mixture_expert_grad, bias_act_backward, batched_gemm.
 */
import type { GateSpec, LevelSpec } from '../spec.js';
import { names as params } from '../spec.js';
import type { ArenaLayout } from '../arena.js';
import { activationNames as names, declareWithGrad } from './activations.js';
import { expertsOf } from './experts.js';
import type { LevelInput } from './level_input.js';
import type { Layer, OpDesc, StepContext } from './ops.js';

/** A gate's members as (own run, shared run), the form the mixture kernels take. */
function memberRuns(level: LevelSpec, gate: GateSpec) {
  const K = level.groups.length - 1;
  const own = gate.group < K ? level.groups[gate.group] : { firstExpert: 0, experts: level.numExperts };
  const runs = { ownStart: own.firstExpert, ownCount: own.experts, sharedStart: level.groups[K].firstExpert };
  const rebuilt = Array.from({ length: gate.members.length }, (_, j) => (j < runs.ownCount ? runs.ownStart + j : runs.sharedStart + j - runs.ownCount));
  if (rebuilt.join() !== gate.members.join()) throw new Error(`gate ${gate.name}: members are not an own run followed by the shared run`);
  return runs;
}

export class GateLayer implements Layer {
  private readonly gatesName: string;
  private readonly outName: string;
  /** The last expert layer, which the mixtures read. */
  private readonly zName: string;

  constructor(
    private readonly level: LevelSpec,
    private readonly gateBias: boolean,
    /** The level's input, which the gates read. */
    private readonly input: LevelInput,
    /** The next level's input (this layer's mixtures); none for the last level, whose mixtures the towers read. */
    private readonly next: LevelInput | null,
    private readonly B: number,
  ) {
    const j = level.index;
    this.gatesName = names.gates(j);
    this.outName = names.mixtures(j);
    this.zName = names.expertLayer(j, level.widths.length - 1);
  }

  declare(activations: ArenaLayout): void {
    const { level, B } = this;
    declareWithGrad(activations, this.gatesName, [B, level.gateColumns]);
    declareWithGrad(activations, this.outName, [level.gates.length, B, level.outDim]);
  }

  forward(c: StepContext, ops: OpDesc[]): void {
    const { level, B } = this;
    const j = level.index;
    const cols = level.gateColumns;
    const gates = c.activations.get(this.gatesName).offset;
    const paramAt = (name: string) => c.params.get(name).offset;
    ops.push({
      kernel: 'gate_softmax',
      name: this.gatesName,
      entries: level.gates.map((gate) => ({
        rows: B, n: gate.members.length, k: level.inDim,
        xOff: this.input.of(c, gate.group).off, xRow: level.inDim,
        wOff: gate.hasParams ? paramAt(params.gateWeight(j, gate.name)) : undefined,
        bOff: gate.hasParams && this.gateBias ? paramAt(params.gateBias(j, gate.name)) : undefined,
        outOff: gates + gate.column, outRow: cols,
      })),
      buffers: { x: this.input.buffer, w: 'params', out: 'act' },
    });
    const d = level.outDim;
    const out = c.activations.get(this.outName).offset;
    ops.push({
      kernel: 'mixture',
      name: `level${j}.mixture`,
      entries: level.gates.map((gate, gi) => ({
        rows: B, d, n: gate.members.length, ...memberRuns(level, gate),
        wOff: gates + gate.column, wRow: cols,
        zOff: c.activations.get(this.zName).offset, zRow: level.numExperts * d,
        outOff: out + gi * B * d, outRow: d,
      })),
      buffers: { gateW: 'act', z: 'act', out: 'act' },
    });
  }

  backward(c: StepContext, ops: OpDesc[]): void {
    const { level, B } = this;
    const j = level.index;
    const d = level.outDim;
    const cols = level.gateColumns;
    const gates = c.activations.get(this.gatesName).offset;
    const gatesGrad = c.activations.get(names.grad(this.gatesName)).offset;
    const outGrad = c.activations.get(names.grad(this.outName)).offset;
    const paramAt = (name: string) => c.params.get(name).offset;
    const paramGates = level.gates.map((gate, gi) => ({ gate, gi })).filter(({ gate }) => gate.hasParams);

    // The next level's input gradient is complete: its layers ran their backward before this one.
    this.next?.clearUnclaimed(c, ops);
    if (paramGates.length > 0) {
      ops.push({
        kernel: 'mixture_gate_grad',
        name: `level${j}`,
        entries: paramGates.map(({ gate, gi }) => ({
          rows: B, d, n: gate.members.length, ...memberRuns(level, gate),
          wOff: gates + gate.column, wRow: cols,
          zOff: c.activations.get(this.zName).offset, zRow: level.numExperts * d,
          dgOff: outGrad + gi * B * d, dgRow: d,
          dlOff: gatesGrad + gate.column, dlRow: cols,
        })),
        buffers: { gateW: 'act', z: 'act', dG: 'act', dLogit: 'act' },
      });
    }
    ops.push({
      kernel: 'mixture_expert_grad',
      name: `level${j}`,
      entries: expertsOf(level).map(({ e }) => ({
        rows: B, d,
        members: level.gates.flatMap((gate, gi) => gate.members.flatMap((m, p) => (m === e ? [{ wCol: gate.column + p, dgOff: outGrad + gi * B * d }] : []))),
        wOff: gates, wRow: cols, dgRow: d,
        dzOff: c.activations.get(names.grad(this.zName)).offset + e * d, dzRow: level.numExperts * d,
      })),
      buffers: { gateW: 'act', dG: 'act', dZ: 'act' },
    });
    if (paramGates.length === 0) return;
    if (this.gateBias) {
      ops.push({
        kernel: 'bias_act_backward',
        name: this.gatesName,
        entries: paramGates.map(({ gate }) => ({
          rows: B, cols: gate.members.length, relu: false,
          dyOff: gatesGrad + gate.column, dyRow: cols, yOff: gatesGrad + gate.column, yRow: cols,
          dbOff: paramAt(params.gateBias(j, gate.name)),
        })),
        buffers: { dY: 'act', y: 'act', db: 'grads' },
      });
    }
    ops.push({
      kernel: 'batched_gemm', name: `${this.gatesName}.dW`, layout: 'dW',
      entries: paramGates.map(({ gate }) => {
        const input = this.input.of(c, gate.group);
        return {
          m: level.inDim, n: gate.members.length, k: B,
          aOff: input.off, aRow: 1, aCol: input.row,
          bOff: gatesGrad + gate.column, bRow: cols, bCol: 1,
          cOff: paramAt(params.gateWeight(j, gate.name)), cRow: gate.members.length,
        };
      }),
      buffers: { a: this.input.buffer, b: 'act', c: 'grads' },
    });
    if (!this.input.wantGrad) return;
    ops.push({
      kernel: 'batched_gemm', name: `${this.gatesName}.dX`, layout: 'dX',
      entries: paramGates.map(({ gate }) => ({
        m: B, n: level.inDim, k: gate.members.length,
        aOff: gatesGrad + gate.column, aRow: cols, aCol: 1,
        bOff: paramAt(params.gateWeight(j, gate.name)), bRow: 1, bCol: gate.members.length,
        cOff: this.input.of(c, gate.group).gradOff, cRow: level.inDim, accumulate: this.input.claimGrad(gate.group),
      })),
      buffers: { a: 'act', b: 'params', c: 'act' },
    });
  }
}

/**
 * `ops` with each gate_softmax op that is directly followed by the mixture op reading its weights
 * (as GateLayer.forward emits them) replaced by one gate_mixture op: one dispatch per level
 * instead of two.
 */
export function fuseGateMixtures(ops: readonly OpDesc[]): OpDesc[] {
  const out: OpDesc[] = [];
  for (let i = 0; i < ops.length; i++) {
    const gate = ops[i];
    const mix = ops[i + 1];
    if (gate.kernel === 'gate_softmax' && mix?.kernel === 'mixture' && gate.entries.length === mix.entries.length && gate.buffers.out === mix.buffers.gateW) {
      out.push({
        kernel: 'gate_mixture',
        name: mix.name,
        entries: gate.entries.map((g, z) => ({ gate: g, mixture: mix.entries[z] })),
        buffers: { x: gate.buffers.x, w: gate.buffers.w, gateW: gate.buffers.out, z: mix.buffers.z, out: mix.buffers.out },
      });
      i++;
    } else {
      out.push(gate);
    }
  }
  return out;
}
