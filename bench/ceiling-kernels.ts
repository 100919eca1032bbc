/**
 * The adapter's ceiling for a register-tiled GEMM's inner loop (bench/ceiling.ts, `npm run bench:ceiling`):
 * kernels that run exactly that loop, an 8x8 tile of accumulators updated by 64 FMAs per k, with the
 * 16 operands taken from registers (no memory at all), loaded per invocation from a storage buffer
 * (addresses that differ between invocations, as B's in the GEMM), or loaded from one address for all
 * invocations (as A's in the GEMM), with one or four values of k per loop trip. The operand buffer is
 * 16 KiB, so every load hits the CPU's L1 cache: what is timed is the cost of the instructions, not
 * of memory. Shared by Node (bench/ceiling.ts) and the page (bench/browser/ceiling.ts).
 */
import { median } from './common.js';

export interface CeilingKernel {
  name: string;
  /** Where the operands come from. */
  operands: 'registers' | 'per-invocation loads' | 'per-invocation vec4 loads' | 'same-address loads';
  /** Values of k per loop trip. */
  kPerTrip: number;
}

export const ceilingKernels: readonly CeilingKernel[] = [
  { name: 'registers, 1 k per trip', operands: 'registers', kPerTrip: 1 },
  { name: 'registers, 4 k per trip', operands: 'registers', kPerTrip: 4 },
  { name: 'per-invocation loads, 1 k per trip', operands: 'per-invocation loads', kPerTrip: 1 },
  { name: 'per-invocation loads, 4 k per trip', operands: 'per-invocation loads', kPerTrip: 4 },
  { name: 'per-invocation vec4 loads, 4 k per trip', operands: 'per-invocation vec4 loads', kPerTrip: 4 },
  { name: 'same-address loads, 4 k per trip', operands: 'same-address loads', kPerTrip: 4 },
];

const TILE = 8;
const WORKGROUP = 4;
const OPERAND_FLOATS = 4096;

/** The WGSL of one kernel: `iterations` values of k for each of the grid's invocations. */
export function ceilingSource(kernel: CeilingKernel, iterations: number): string {
  if (iterations % kernel.kPerTrip !== 0) throw new Error(`ceilingSource: ${iterations} is not a multiple of ${kernel.kPerTrip}`);
  const lines = [
    '@group(0) @binding(0) var<storage, read_write> out: array<f32>;',
    `@group(0) @binding(1) var<storage, read_write> operands: array<${kernel.operands === 'per-invocation vec4 loads' ? 'vec4f' : 'f32'}>;`,
    `@compute @workgroup_size(${WORKGROUP})`,
    'fn main(@builtin(global_invocation_id) g: vec3u, @builtin(local_invocation_index) lane: u32) {',
  ];
  for (let i = 0; i < TILE; i++) for (let j = 0; j < TILE; j++) lines.push(`  var c${i}_${j} = 0.0;`);
  lines.push(`  for (var k0 = 0u; k0 < ${iterations}u; k0 += ${kernel.kPerTrip}u) {`);
  for (let u = 0; u < kernel.kPerTrip; u++) {
    lines.push(`    { let k = k0 + ${u}u;`);
    // A and B operands of this k: 8 each. Loads wrap inside the 16 KiB buffer.
    const load = (q: number) =>
      kernel.operands === 'per-invocation loads' ? `operands[(k * 64u + lane * 16u + ${q}u) & ${OPERAND_FLOATS - 1}u]` : `operands[(k * 64u + ${q}u) & ${OPERAND_FLOATS - 1}u]`;
    if (kernel.operands === 'per-invocation vec4 loads') {
      // The same 16 floats per k as four vec4 loads.
      for (let q = 0; q < 4; q++) lines.push(`    let v${q} = operands[(k * 16u + lane * 4u + ${q}u) & ${OPERAND_FLOATS / 4 - 1}u];`);
      for (let i = 0; i < TILE; i++) lines.push(`    let a${i} = v${Math.floor(i / 4)}[${i % 4}];`);
      for (let j = 0; j < TILE; j++) lines.push(`    let b${j} = v${2 + Math.floor(j / 4)}[${j % 4}];`);
    } else {
      for (let i = 0; i < TILE; i++) lines.push(`    let a${i} = ${kernel.operands === 'registers' ? `f32(k + ${i}u)` : load(i)};`);
      for (let j = 0; j < TILE; j++) lines.push(`    let b${j} = ${kernel.operands === 'registers' ? `f32(k ^ ${j}u)` : load(TILE + j)};`);
    }
    for (let i = 0; i < TILE; i++) for (let j = 0; j < TILE; j++) lines.push(`    c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`);
    lines.push('    }');
  }
  lines.push('  }');
  // Every accumulator reaches the output, and the operand buffer is bound in every variant.
  const sum = Array.from({ length: TILE * TILE }, (_, q) => `c${Math.floor(q / TILE)}_${q % TILE}`).join(' + ');
  const first = kernel.operands === 'per-invocation vec4 loads' ? `operands[g.x & ${OPERAND_FLOATS / 4 - 1}u].x` : `operands[g.x & ${OPERAND_FLOATS - 1}u]`;
  lines.push(`  out[g.x] = ${first} + ${sum};`);
  lines.push('}');
  return lines.join('\n');
}

export interface CeilingTiming {
  kernel: string;
  /** Median wall time of one dispatch, ms. */
  ms: number;
  gflops: number;
}

/**
 * Times every kernel on `device`: one untimed dispatch, then the median of `repeats` dispatches, each
 * submitted and awaited alone. `invocations` invocations run `iterations` values of k each.
 */
export async function timeCeilingKernels(device: GPUDevice, options: { invocations?: number; iterations?: number; repeats?: number } = {}): Promise<CeilingTiming[]> {
  const invocations = options.invocations ?? 2048;
  const iterations = options.iterations ?? 2048;
  const repeats = options.repeats ?? 5;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const out = device.createBuffer({ size: invocations * 4, usage });
  const operands = device.createBuffer({ size: OPERAND_FLOATS * 4, usage });
  device.queue.writeBuffer(operands, 0, Float32Array.from({ length: OPERAND_FLOATS }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
  const timings: CeilingTiming[] = [];
  try {
    for (const kernel of ceilingKernels) {
      const module = device.createShaderModule({ code: ceilingSource(kernel, iterations) });
      const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }, { binding: 1, resource: { buffer: operands } }] });
      const run = async () => {
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(invocations / WORKGROUP);
        pass.end();
        device.queue.submit([encoder.finish()]);
        await device.queue.onSubmittedWorkDone();
      };
      await run();
      const ms: number[] = [];
      for (let r = 0; r < repeats; r++) {
        const t0 = performance.now();
        await run();
        ms.push(performance.now() - t0);
      }
      const mid = median(ms);
      timings.push({ kernel: kernel.name, ms: mid, gflops: (2 * TILE * TILE * iterations * invocations) / mid / 1e6 });
    }
  } finally {
    out.destroy();
    operands.destroy();
  }
  return timings;
}
