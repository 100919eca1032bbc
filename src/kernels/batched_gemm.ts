/**
 * Host side of shaders/batched_gemm.wgsl, register tiles (`main`) or workgroup-memory tiles
 * (`main_shared`), and of shaders/batched_gemm_subgroup.wgsl (`main_subgroup`, register tiles
 * whose A loads a subgroup shares): C[z] = act(A[z] B[z] + bias[z] (+ C[z])).
 * CPU reference: src/reference/batched_gemm.ts. Test: test/batched_gemm.test.ts.
 */
import source from '../../shaders/batched_gemm.wgsl?raw';
import subgroupSource from '../../shaders/batched_gemm_subgroup.wgsl?raw';
import { isSoftwareAdapter, type GpuContext } from '../gpu/context.js';
import { bindRanges, createDispatch, type Dispatch } from './dispatch.js';
import { struct } from './struct.js';

export interface GemmEntry {
  m: number;
  n: number;
  k: number;
  relu?: boolean;
  /** Add the existing C (beta = 1). */
  accumulate?: boolean;
  /** Element offset of the bias vector in the bias buffer; none when absent. */
  biasOff?: number;
  aOff: number;
  aRow: number;
  aCol: number;
  bOff: number;
  bRow: number;
  bCol: number;
  cOff: number;
  cRow: number;
}

/** How the batched expert GEMM kernel tiles its work: per-invocation register tiles or workgroup-memory tiles, and the workgroup shape. */
export interface GemmTuning {
  /** Rows and columns of C each invocation accumulates in registers. */
  tileM: number;
  tileN: number;
  /** Vector width: an invocation's columns come in runs of vecN adjacent ones (divides tileN; default 1). */
  vecN?: number;
  /**
   * Stage tiles of A and B in workgroup memory (the shader's `main_shared`): one output per
   * invocation, a square wgX x wgX workgroup; tileM, tileN and vecN must then be 1.
   */
  workgroupMemory?: boolean;
  /**
   * Share the A loads across a subgroup of this many invocations (the subgroup shader's
   * `main_subgroup`): needs the `subgroups` feature with exactly this subgroup size, one row of
   * invocations (wgY = 1) and wgX a multiple of it (gemmSubgroupFits).
   */
  subgroupSize?: number;
  /** Workgroup shape (invocations along columns and rows). */
  wgX: number;
  /** Workgroup invocations along rows. */
  wgY: number;
}

/** Operand layouts: forward C = A B; dX: C = A B^T (B stored [n, k]); dW: C = A^T B (A stored [k, m]). */
export type GemmLayout = 'forward' | 'dX' | 'dW';

/** A batched GEMM by its name, operand layout and entry sizes: what the tuner times and a chooser is asked about. */
export interface GemmShape {
  name: string;
  layout: GemmLayout;
  entries: readonly { m: number; n: number; k: number }[];
}

/** Chooses a tuning for one batched GEMM dispatch of a plan (per-dispatch tuning). */
export type GemmTuningChooser = (gemm: GemmShape) => GemmTuning;

/** The GEMM tuning for hardware adapters when none is chosen: 4x4 register tiles, 8x8 workgroups. */
export const defaultGemmTuning: GemmTuning = { tileM: 4, tileN: 4, wgX: 8, wgY: 8 };

/**
 * The tuning used when a plan names none. Software adapters (SwiftShader) run a
 * workgroup's invocations on one CPU core, 4 at a time as the lanes of a SIMD register, where
 * large register tiles win (8x8 measured ~6x faster than 1x1 and ~1.5x faster than 4x4), and a
 * workgroup of one such group of 4 beats 8x8 workgroups (~15% less time over bench-small's GEMMs):
 * finer work items balance better across the cores and skip fewer idle lanes on narrow matrices.
 */
export function gemmTuningFor(adapter: { isFallback: boolean; architecture: string }): GemmTuning {
  if (isSoftwareAdapter(adapter)) return { tileM: 8, tileN: 8, wgX: 4, wgY: 1 };
  return defaultGemmTuning;
}

export interface GemmBuffers {
  a: GPUBuffer;
  b: GPUBuffer;
  c: GPUBuffer;
  /** Required when any entry has a bias. */
  bias?: GPUBuffer;
}

/** The shader's `flags` bits (written into its `const FLAG_*` lines). */
export const GEMM_FLAGS = { FLAG_RELU: 1, FLAG_ACCUMULATE: 2, FLAG_BIAS: 4 } as const;

/** The shader's descriptor, one per entry. */
export const GEMM_DESCRIPTOR = struct('Gemm', {
  m: 'u32', n: 'u32', k: 'u32', flags: 'u32',
  aOff: 'u32', aRow: 'u32', aCol: 'u32', bOff: 'u32',
  bRow: 'u32', bCol: 'u32', cOff: 'u32', cRow: 'u32',
  biasOff: 'u32',
});

/** Why the device cannot run a subgroup tuning, or null when it can (or the tuning uses no subgroups). */
export function gemmSubgroupMismatch(ctx: Pick<GpuContext, 'subgroups'>, t: GemmTuning): string | null {
  const size = t.subgroupSize;
  if (size === undefined) return null;
  if (t.workgroupMemory) return 'the subgroup GEMM uses register tiles, not workgroup memory';
  if (t.wgY !== 1 || t.wgX % size !== 0) return `the subgroup GEMM takes one row of invocations (wgY = 1) and wgX a multiple of the subgroup size ${size}`;
  if (!ctx.subgroups) return `the subgroup GEMM needs the device's 'subgroups' feature`;
  const { minSize, maxSize } = ctx.subgroups;
  if (minSize !== size || maxSize !== size) return `the subgroup GEMM was specialised for subgroups of ${size}; the device runs ${minSize === maxSize ? minSize : `${minSize} to ${maxSize}`}`;
  return null;
}

export function gemmGrid(entries: readonly GemmEntry[], t: GemmTuning): [number, number, number] {
  if (t.workgroupMemory) {
    const maxM = Math.max(...entries.map((e) => e.m));
    const maxN = Math.max(...entries.map((e) => e.n));
    return [Math.ceil(maxN / t.wgX), Math.ceil(maxM / t.wgX), entries.length];
  }
  const maxM = Math.max(...entries.map((e) => e.m));
  const maxN = Math.max(...entries.map((e) => e.n));
  return [Math.ceil(maxN / (t.wgX * t.tileN)), Math.ceil(maxM / (t.wgY * t.tileM)), entries.length];
}

export function gemmDispatch(
  ctx: GpuContext,
  label: string,
  entries: readonly GemmEntry[],
  buffers: GemmBuffers,
  tuning: GemmTuning = defaultGemmTuning,
): Promise<Dispatch> {
  if (entries.length === 0) throw new Error(`${label}: no GEMM entries`);
  const vecN = tuning.vecN ?? 1;
  if (tuning.tileN % vecN !== 0) throw new Error(`${label}: the vector width ${vecN} must divide tileN ${tuning.tileN}`);
  if (tuning.workgroupMemory && (tuning.wgX !== tuning.wgY || tuning.tileM !== 1 || tuning.tileN !== 1 || vecN !== 1)) {
    throw new Error(`${label}: the workgroup-memory GEMM takes a square workgroup and 1x1 tiles`);
  }
  const mismatch = gemmSubgroupMismatch(ctx, tuning);
  if (mismatch) throw new Error(`${label}: ${mismatch}`);
  for (const e of entries) {
    if (e.m < 1 || e.n < 1 || e.k < 1) throw new Error(`${label}: empty GEMM ${e.m}x${e.n}x${e.k}`);
    if (e.biasOff !== undefined && !buffers.bias) throw new Error(`${label}: an entry has a bias but no bias buffer was given`);
  }
  const bound = bindRanges(ctx, label, entries, [
    { buffer: buffers.a, extent: (e) => [e.aOff, e.aOff + (e.m - 1) * e.aRow + (e.k - 1) * e.aCol + 1], offsets: ['aOff'] },
    { buffer: buffers.b, extent: (e) => [e.bOff, e.bOff + (e.k - 1) * e.bRow + (e.n - 1) * e.bCol + 1], offsets: ['bOff'] },
    { buffer: buffers.c, extent: (e) => [e.cOff, e.cOff + (e.m - 1) * e.cRow + e.n], offsets: ['cOff'] },
    {
      buffer: buffers.bias ?? ctx.placeholderBuffer,
      extent: (e) => (e.biasOff === undefined ? null : [e.biasOff, e.biasOff + e.n]),
      offsets: ['biasOff'],
    },
  ]);
  const { FLAG_RELU, FLAG_ACCUMULATE, FLAG_BIAS } = GEMM_FLAGS;
  const packed = bound.entries.map((e) => {
    const flags = (e.relu ? FLAG_RELU : 0) | (e.accumulate ? FLAG_ACCUMULATE : 0) | (e.biasOff !== undefined ? FLAG_BIAS : 0);
    return { ...e, flags, biasOff: e.biasOff ?? 0 };
  });
  return createDispatch(ctx, {
    kernel: 'batched_gemm',
    name: label,
    // The subgroup file goes first: its `enable` must precede every declaration.
    source: tuning.subgroupSize ? subgroupSource + source : source,
    entryPoint: tuning.subgroupSize ? 'main_subgroup' : tuning.workgroupMemory ? 'main_shared' : 'main',
    constants: {
      TILE_M: tuning.tileM, TILE_N: tuning.tileN, VEC_N: vecN, WG_X: tuning.wgX, WG_Y: tuning.wgY, ...GEMM_FLAGS,
      ...(tuning.subgroupSize ? { SG: tuning.subgroupSize } : {}),
    },
    descriptors: GEMM_DESCRIPTOR.pack(packed),
    bindings: bound.bindings,
    grid: gemmGrid(entries, tuning),
  });
}
