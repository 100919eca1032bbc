/**
 * Host side of shaders/gate_mixture.wgsl: a level's gate softmax and its mixtures in one dispatch
 * (what gateSoftmaxDispatch then mixtureDispatch compute, with the same entries). The planner
 * fuses a gate_softmax op and the mixture op reading its weights (src/layers/gates.ts).
 * CPU references: src/reference/gate_softmax.ts, src/reference/mixture.ts. Test: test/gate_mixture.test.ts.
 */
import gateCommon from '../../shaders/gate_softmax_common.wgsl?raw';
import mixtureCommon from '../../shaders/mixture_common.wgsl?raw';
import mixtureTile from '../../shaders/mixture_tile.wgsl?raw';
import mainSource from '../../shaders/gate_mixture.wgsl?raw';
import type { GpuContext } from '../gpu/context.js';
import { bindRanges, createDispatch, grid1d, type Dispatch } from './dispatch.js';
import { GATE_FLAGS, gateInputBindings, gateOutBinding, gateRowsFor, packGates, type GateEntry, type GateOptions } from './gate_softmax.js';
import { MIXTURE_DESCRIPTOR, type MixtureEntry, type MixtureOptions } from './mixture.js';
import { kernelShapesFor } from './shapes.js';
import { withLanes, type ReductionPath } from './lanes.js';

/** A gate and its mixture: the mixture reads the weights the gate writes (same rows, width and place). */
export interface GateMixtureEntry {
  gate: GateEntry;
  mixture: MixtureEntry;
}

const WG = 64;

/** Throws unless every mixture reads exactly its gate's weights. */
function checkPairs(label: string, entries: readonly GateMixtureEntry[]): void {
  entries.forEach(({ gate, mixture }, i) => {
    if (gate.rows !== mixture.rows || gate.n !== mixture.n || gate.outOff !== mixture.wOff || gate.outRow !== mixture.wRow) {
      throw new Error(`gate_mixture ${label}: entry ${i}'s mixture does not read its gate's weights (rows, n, offset and row stride must agree)`);
    }
  });
}

/** `path`: the gate softmax with one sample per invocation (plain) or per subgroup (see lanes.ts). */
export function gateMixtureDispatch(
  ctx: GpuContext,
  label: string,
  entries: readonly GateMixtureEntry[],
  buffers: { x: GPUBuffer; w: GPUBuffer; gateW: GPUBuffer; z: GPUBuffer; out: GPUBuffer },
  path: ReductionPath = 'plain',
  options: MixtureOptions & GateOptions = {},
): Promise<Dispatch> {
  checkPairs(label, entries);
  const O_TILE = options.outputsPerInvocation ?? kernelShapesFor(ctx.adapter).mixtureOutputs;
  const ROWS = options.rowsPerGroup ?? gateRowsFor(ctx.adapter, path);
  const lanes = withLanes(ctx, 'gate_mixture', path, gateCommon + mixtureCommon + mixtureTile + mainSource, WG);
  // One flat entry per gate, so one rebasing covers every binding.
  const flat = entries.map(({ gate, mixture: m }) => ({
    ...gate, d: m.d, ownStart: m.ownStart, ownCount: m.ownCount, sharedStart: m.sharedStart, zOff: m.zOff, zRow: m.zRow, mixOff: m.outOff, mixRow: m.outRow,
  }));
  const bound = bindRanges(ctx, label, flat, [
    ...gateInputBindings<(typeof flat)[number]>(buffers),
    gateOutBinding<(typeof flat)[number]>(buffers.gateW),
    { buffer: buffers.z, extent: (e) => [e.zOff, e.zOff + e.rows * e.zRow], offsets: ['zOff'] },
    { buffer: buffers.out, extent: (e) => [e.mixOff, e.mixOff + (e.rows - 1) * e.mixRow + e.d], offsets: ['mixOff'] },
  ]);
  const mixes = MIXTURE_DESCRIPTOR.pack(
    bound.entries.map((e) => ({
      rows: e.rows, d: e.d, n: e.n, ownStart: e.ownStart, ownCount: e.ownCount, sharedStart: e.sharedStart,
      wOff: e.outOff, wRow: e.outRow, zOff: e.zOff, zRow: e.zRow, outOff: e.mixOff, outRow: e.mixRow, dgOff: 0, dgRow: 0, dlOff: 0, dlRow: 0,
    })),
  );
  const mixTable = ctx.createDataBuffer(`gate_mixture ${label} mixtures`, mixes);
  const [x, y] = grid1d(Math.max(...entries.map((e) => e.gate.rows)), lanes.rowsPerWorkgroup * ROWS, ctx.limits.maxComputeWorkgroupsPerDimension);
  return createDispatch(
    ctx,
    {
      kernel: 'gate_mixture',
      path,
      name: label,
      source: lanes.source,
      constants: { WG: lanes.wg, O_TILE, ROWS, ...GATE_FLAGS },
      descriptors: packGates(bound.entries),
      bindings: [{ buffer: mixTable }, ...bound.bindings],
      grid: [x, y, entries.length],
    },
    [mixTable],
  );
}
