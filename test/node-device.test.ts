/**
 * The Node device's options (src/node.ts): Dawn's robustness transform (on for the tests, off on
 * request) and how often the binding checks for finished GPU work (src/gpu/dawn-polling.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { promisify } from 'node:util';
import { acquireNodeDevice, withoutRobustness } from '../src/node.js';
import { dawnPollInterval, setDawnPollInterval } from '../src/gpu/dawn-polling.js';
import type { GpuContext } from '../src/gpu/context.js';
import { testContext } from './gpu.js';

/**
 * Reads element `index` of a storage binding that covers the first 4 floats of a 64-float buffer
 * holding 100, 101, ... With bounds clamping the read of index 8 returns the binding's last
 * element (103); without it, element 8 of the buffer (108): still inside the buffer, so harmless.
 */
async function readPastBinding(ctx: GpuContext, index: number): Promise<number> {
  const device = ctx.device;
  const module = device.createShaderModule({
    code: `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> index: array<u32>;
@compute @workgroup_size(1) fn main() { dst[0] = src[index[0]]; }`,
  });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const src = ctx.createDataBuffer('src', Float32Array.from({ length: 64 }, (_, i) => 100 + i));
  const dst = ctx.createBuffer('dst', 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
  const idx = ctx.createDataBuffer('index', Uint32Array.of(index, 0, 0, 0));
  try {
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: src, offset: 0, size: 16 } },
        { binding: 1, resource: { buffer: dst } },
        { binding: 2, resource: { buffer: idx } },
      ],
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(1);
    pass.end();
    device.queue.submit([encoder.finish()]);
    return new Float32Array(await ctx.readBuffer(dst))[0];
  } finally {
    [src, dst, idx].forEach((b) => ctx.destroyBuffer(b));
  }
}

describe('robustness', () => {
  it('is on for the tests: a read past a binding is clamped to its last element', async () => {
    const ctx = await testContext();
    expect(await readPastBinding(ctx, 2)).toBe(102);
    expect(await readPastBinding(ctx, 8)).toBe(103);
  });

  it('robustness: false turns the clamping off on that device only', async () => {
    const ctx = await acquireNodeDevice({ robustness: false });
    try {
      expect(await readPastBinding(ctx, 2)).toBe(102);
      expect(await readPastBinding(ctx, 8)).toBe(108);
      // The tests' own device still clamps.
      expect(await readPastBinding(await testContext(), 8)).toBe(103);
    } finally {
      ctx.device.destroy();
    }
  });

  it('withoutRobustness adds disable_robustness to the one enable-dawn-features entry', () => {
    expect(withoutRobustness([])).toEqual(['enable-dawn-features=disable_robustness']);
    expect(withoutRobustness(['backend=vulkan', 'enable-dawn-features=dump_shaders'])).toEqual(['backend=vulkan', 'enable-dawn-features=dump_shaders,disable_robustness']);
    expect(withoutRobustness(['enable-dawn-features=disable_robustness'])).toEqual(['enable-dawn-features=disable_robustness']);
  });
});

/** Submits a dispatch that runs a long dependent loop, and returns a mapAsync waiting for it. */
async function slowReadback(ctx: GpuContext, iterations: number): Promise<{ done: Promise<number> }> {
  const device = ctx.device;
  const module = device.createShaderModule({
    code: `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  var x = f32(id.x) * 1e-3;
  for (var i = 0u; i < ${iterations}u; i++) { x = fract(x * 1.0001 + 0.37); }
  out[id.x] = x;
}`,
  });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const out = ctx.createBuffer('out', 64 * 64 * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
  const staging = ctx.createBuffer('staging', 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] }));
  pass.dispatchWorkgroups(64);
  pass.end();
  encoder.copyBufferToBuffer(out, 0, staging, 0, 16);
  device.queue.submit([encoder.finish()]);
  const done = staging.mapAsync(GPUMapMode.READ).then(() => {
    const x = new Float32Array(staging.getMappedRange())[0];
    staging.unmap();
    [out, staging].forEach((b) => ctx.destroyBuffer(b));
    return x;
  });
  return { done };
}

/**
 * Iterations of slowReadback's loop that keep this device busy for at least `ms`: 20,000 is plenty on
 * SwiftShader, a hardware GPU runs them in well under a millisecond, so the count grows (at most 16x
 * a try) until one readback takes that long. Sizes the work, once per process; the tests' checks
 * are made on later runs.
 */
let busyIterations: number | undefined;
async function iterationsFor(ctx: GpuContext, ms: number): Promise<number> {
  if (busyIterations !== undefined) return busyIterations;
  let iterations = 20_000;
  for (;;) {
    const t0 = performance.now();
    await (await slowReadback(ctx, iterations)).done;
    const took = performance.now() - t0;
    if (took >= ms || iterations >= 2 ** 28) return (busyIterations = iterations);
    iterations *= Math.min(16, Math.ceil((2 * ms) / Math.max(took, 0.1)));
  }
}

describe('polling for finished GPU work', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    setDawnPollInterval(1);
  });

  it('checks on a timer while work is pending (default 1 ms), not in a continuous loop', async () => {
    const ctx = await testContext();
    expect(dawnPollInterval()).toBe(1);
    const iterations = await iterationsFor(ctx, 10);
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const t0 = performance.now();
    const { done } = await slowReadback(ctx, iterations);
    const x = await done;
    const elapsed = performance.now() - t0;
    expect(Number.isFinite(x)).toBe(true);
    const checks = timers.mock.calls.filter(([callback, ms]) => (callback as { name?: string }).name === 'runCheck' && ms === 1).length;
    // The work took many milliseconds, so the binding checked again on the timer, at most once per ms.
    expect(elapsed).toBeGreaterThan(5);
    expect(checks).toBeGreaterThan(0);
    expect(checks).toBeLessThanOrEqual(elapsed + 2);
  });

  it('pollIntervalMs 0 gives the binding its own continuous checking back (the original setImmediate)', async () => {
    const ctx = await testContext();
    const iterations = await iterationsFor(ctx, 10);
    const wrapped = globalThis.setImmediate;
    setDawnPollInterval(0);
    expect(globalThis.setImmediate).not.toBe(wrapped);
    expect(dawnPollInterval()).toBe(0);
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const { done } = await slowReadback(ctx, iterations);
    expect(Number.isFinite(await done)).toBe(true);
    expect(timers.mock.calls.filter(([callback]) => (callback as { name?: string }).name === 'runCheck')).toHaveLength(0);
    setDawnPollInterval(1);
    expect(globalThis.setImmediate).toBe(wrapped);
  });

  it('passes every other setImmediate call through unchanged', async () => {
    expect(dawnPollInterval()).toBe(1);
    const got = await new Promise<string[]>((resolve) => setImmediate((a: string, b: string) => resolve([a, b]), 'a', 'b'));
    expect(got).toEqual(['a', 'b']);
    expect(await promisify(setImmediate)('value')).toBe('value');
    const cleared = vi.fn();
    clearImmediate(setImmediate(cleared));
    await new Promise((r) => setTimeout(r, 5));
    expect(cleared).not.toHaveBeenCalled();
    expect(() => setDawnPollInterval(-1)).toThrow(/pollIntervalMs must be a finite number >= 0, got -1/);
  });
});
