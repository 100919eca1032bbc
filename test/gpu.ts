/** Test access to the GPU: one device per test file (Dawn in Node), and buffer helpers. */
import { acquireNodeDevice } from '../src/node.js';
import type { GpuContext } from '../src/gpu/context.js';
import { encodeOps, type Dispatch } from '../src/kernels/dispatch.js';

let shared: Promise<GpuContext> | null = null;
let withoutSubgroups: Promise<GpuContext> | null = null;

export function testContext(): Promise<GpuContext> {
  shared ??= acquireNodeDevice();
  return shared;
}

/** A second device on the same adapter, opened without the `subgroups` feature: what an adapter without it gets. */
export function noSubgroupsContext(): Promise<GpuContext> {
  withoutSubgroups ??= acquireNodeDevice({ subgroups: false });
  return withoutSubgroups;
}

export function upload(ctx: GpuContext, data: ArrayLike<number>, label = 'test data'): GPUBuffer {
  return ctx.createDataBuffer(label, Float32Array.from(data), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
}

export async function download(ctx: GpuContext, buffer: GPUBuffer, length: number): Promise<Float32Array> {
  return new Float32Array(await ctx.readBuffer(buffer, 0, length * 4));
}

export async function run(ctx: GpuContext, dispatches: Dispatch[]): Promise<void> {
  const encoder = ctx.device.createCommandEncoder();
  encodeOps(encoder, dispatches.map((dispatch) => ({ kind: 'dispatch' as const, dispatch })), 'test');
  ctx.device.pushErrorScope('validation');
  ctx.device.queue.submit([encoder.finish()]);
  const error = await ctx.device.popErrorScope();
  if (error) throw new Error(`validation error: ${error.message}`);
  await ctx.device.queue.onSubmittedWorkDone();
}

/** Checks that every NaN-poisoned element outside `written` is still NaN and every written one is finite. */
export function checkWrites(label: string, got: Float32Array, written: Set<number>): void {
  for (let i = 0; i < got.length; i++) {
    if (written.has(i) ? !Number.isFinite(got[i]) : !Number.isNaN(got[i])) {
      throw new Error(`${label}: element ${i} ${written.has(i) ? 'was not written' : 'was written out of bounds'} (${got[i]})`);
    }
  }
}

/**
 * The reduction kernels' paths the tests run: both, on the test adapter. The subgroup path needs
 * the `subgroups` feature; an adapter without it fails these tests, saying so (SwiftShader and
 * the GPUs Dawn drives offer it).
 */
export const reductionPaths = ['plain', 'subgroup'] as const;

export async function contextFor(path: (typeof reductionPaths)[number]): Promise<GpuContext> {
  const ctx = await testContext();
  if (path === 'subgroup' && !ctx.subgroups) {
    throw new Error(`the test adapter offers no 'subgroups' feature (features: ${ctx.adapter.features.join(', ')}), so the subgroup path cannot be tested here`);
  }
  return ctx;
}
