/**
 * Which device to train on: the rule and its wording, written once for both hosts. Node's
 * `acquireTrainingDevice` (src/node.ts) and the browser's `acquireBrowserTrainingDevice`
 * (src/gpu/browser.ts) pass in how they open WebGPU there.
 */
import { CpuDevice, type CpuDeviceOptions } from './cpu/device.js';
import { formatAdapter, isSoftwareAdapter, NoAdapterError, type GpuContext } from './gpu/context.js';

/** Which device to train on: WebGPU, the CPU device, or auto (WebGPU unless its only adapter is a software one or there is none). */
export type DeviceChoice = 'auto' | 'gpu' | 'cpu';

/** The device choices, in the order they are offered. */
export const DEVICE_CHOICES: readonly DeviceChoice[] = ['auto', 'gpu', 'cpu'];

/** The device a {@link DeviceChoice} gave, and why. */
export interface TrainingDevice {
  device: GpuContext | CpuDevice;
  /**
   * One line saying which device and why: `webgpu, <adapter>`, or `cpu, WebAssembly SIMD, 2 threads
   * (2 cores)` (CpuDevice.describeThreads) followed, where auto chose it, by the reason in brackets.
   */
  description: string;
  /**
   * Why auto chose the CPU device, e.g. `the only WebGPU adapter, <adapter>, is a software one;
   * --device gpu trains on it` ('' where the choice named the device, or WebGPU was chosen).
   */
  reason: string;
  /** Where auto found no WebGPU at all: the NoAdapterError's whole message (what to install or enable). */
  noWebGpu?: string;
}

/**
 * Applies a device choice: 'gpu' opens WebGPU through `openGpu` (its NoAdapterError passes
 * through); 'cpu' creates the CPU device; 'auto' opens WebGPU and keeps it unless its adapter is a
 * software one (SwiftShader), or falls back to the CPU device when `openGpu` throws NoAdapterError:
 * on such a host the CPU device trains several times faster (`npm run bench` measures both).
 * @param openGpu opens a WebGPU device on this host.
 * @param gpuOption how a user of this host asks for WebGPU by name (`--device gpu`, `?device=gpu`),
 *   said in the reason when auto passes over a software adapter.
 * @param cpuOptions the CPU device's options (its threads), where the choice gives it.
 * @throws Error naming the choice when it is not auto, gpu or cpu.
 */
export async function chooseTrainingDevice(choice: DeviceChoice, openGpu: () => Promise<GpuContext>, gpuOption: string, cpuOptions: CpuDeviceOptions = {}): Promise<TrainingDevice> {
  if (!DEVICE_CHOICES.includes(choice)) throw new Error(`the device must be one of ${DEVICE_CHOICES.join(', ')}, got ${JSON.stringify(choice)}`);
  const cpu = async (reason: string, noWebGpu?: string): Promise<TrainingDevice> => {
    const device = await CpuDevice.create(cpuOptions);
    return {
      device,
      description: `cpu, WebAssembly SIMD, ${device.describeThreads()}${reason ? ` (${reason})` : ''}`,
      reason,
      ...(noWebGpu !== undefined && { noWebGpu }),
    };
  };
  if (choice === 'cpu') return cpu('');
  let ctx: GpuContext;
  try {
    ctx = await openGpu();
  } catch (e) {
    if (choice === 'auto' && e instanceof NoAdapterError) return cpu(`no WebGPU adapter: ${e.message.split('\n')[0]}`, e.message);
    throw e;
  }
  const adapter = formatAdapter(ctx.adapter);
  if (choice === 'auto' && isSoftwareAdapter(ctx.adapter)) {
    ctx.device.destroy();
    return cpu(`the only WebGPU adapter, ${adapter}, is a software one; ${gpuOption} trains on it`);
  }
  return { device: ctx, description: `webgpu, ${adapter}`, reason: '' };
}
