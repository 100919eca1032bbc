/** The device choice (src/device-choice.ts) with a stand-in for opening WebGPU: every branch of the rule. */
import { describe, expect, it } from 'vitest';
import { chooseTrainingDevice } from '../src/device-choice.js';
import { availableParallelism } from 'node:os';
import { isCpuDevice, type CpuDevice } from '../src/cpu/device.js';
import { NoAdapterError, type GpuContext } from '../src/gpu/context.js';

/** A stand-in GPU context: just what the rule reads (the adapter) and whether it was destroyed. */
function fakeGpu(adapter: { isFallback: boolean; architecture: string; vendor: string }) {
  const state = { destroyed: false, opened: 0 };
  const ctx = { adapter: { ...adapter, device: '', description: '' }, device: { destroy: () => (state.destroyed = true) } } as unknown as GpuContext;
  const open = async () => {
    state.opened++;
    return ctx;
  };
  return { ctx, open, state };
}

const software = { isFallback: true, architecture: 'swiftshader', vendor: 'google' };
const hardware = { isFallback: false, architecture: 'rdna-3', vendor: 'amd' };
const none = async (): Promise<GpuContext> => {
  throw new NoAdapterError('No WebGPU adapter found.\nwhat to install');
};

describe('chooseTrainingDevice', () => {
  it('auto keeps a hardware adapter', async () => {
    const g = fakeGpu(hardware);
    const r = await chooseTrainingDevice('auto', g.open, '--device gpu');
    expect(r.device).toBe(g.ctx);
    expect(r.description).toMatch(/^webgpu, amd rdna-3/);
    expect(r.reason).toBe('');
    expect(g.state.destroyed).toBe(false);
  });

  it('auto passes over a software adapter to the CPU device, and frees the GPU device it opened', async () => {
    const g = fakeGpu(software);
    const r = await chooseTrainingDevice('auto', g.open, '?device=gpu');
    expect(isCpuDevice(r.device)).toBe(true);
    expect(r.reason).toMatch(/^the only WebGPU adapter, google swiftshader.*, is a software one; \?device=gpu trains on it$/);
    const cpu = r.device as CpuDevice;
    expect(r.description).toBe(`cpu, WebAssembly SIMD, ${cpu.describeThreads()} (${r.reason})`);
    expect(g.state.destroyed).toBe(true);
  });

  it('auto falls back to the CPU device without any adapter, keeping what to install', async () => {
    const r = await chooseTrainingDevice('auto', none, '--device gpu');
    expect(isCpuDevice(r.device)).toBe(true);
    expect(r.reason).toBe('no WebGPU adapter: No WebGPU adapter found.');
    expect(r.noWebGpu).toBe('No WebGPU adapter found.\nwhat to install');
  });

  it('gpu takes any adapter, software ones too, and passes a missing adapter on as NoAdapterError', async () => {
    const g = fakeGpu(software);
    expect((await chooseTrainingDevice('gpu', g.open, '--device gpu')).device).toBe(g.ctx);
    expect(g.state.destroyed).toBe(false);
    await expect(chooseTrainingDevice('gpu', none, '--device gpu')).rejects.toBeInstanceOf(NoAdapterError);
  });

  it('cpu never opens WebGPU, and takes the CPU device\'s options', async () => {
    const g = fakeGpu(hardware);
    const r = await chooseTrainingDevice('cpu', g.open, '--device gpu', { threads: 2 });
    expect(isCpuDevice(r.device)).toBe(true);
    expect(r).toMatchObject({ description: `cpu, WebAssembly SIMD, 2 threads (as asked; ${availableParallelism()} core${availableParallelism() > 1 ? 's' : ''})`, reason: '' });
    expect((r.device as CpuDevice).threads).toBe(2);
    expect(g.state.opened).toBe(0);
  });

  it('names the choices for anything else', async () => {
    await expect(chooseTrainingDevice('tpu' as never, fakeGpu(hardware).open, '--device gpu')).rejects.toThrow('the device must be one of auto, gpu, cpu, got "tpu"');
  });
});
