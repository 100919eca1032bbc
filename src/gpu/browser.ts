/** Device acquisition in a browser, through navigator.gpu. */
import { NoAdapterError, openDevice, type GpuContext } from './context.js';
import { chooseTrainingDevice, type DeviceChoice, type TrainingDevice } from '../device-choice.js';
import type { CpuDeviceOptions } from '../cpu/device.js';

/**
 * Opens a WebGPU device in a browser through `navigator.gpu`, with the limits and features the
 * runtime uses (see {@link openDevice}).
 * @param powerPreference which adapter to ask for when the machine has several GPUs.
 * @throws NoAdapterError when the browser has no WebGPU (the message's first line says so, the rest
 *   which browsers and flags have it) or offers no adapter.
 */
export async function acquireBrowserDevice(powerPreference: GPUPowerPreference = 'high-performance'): Promise<GpuContext> {
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  if (!gpu) {
    throw new NoAdapterError(
      'WebGPU is not available in this browser (navigator.gpu is missing).\nUse a recent Chrome or Edge, ' +
        'Firefox 141+ or Safari 26+; on Linux Chrome may need chrome://flags/#enable-unsafe-webgpu. ' +
        'WebGPU also needs a secure context (https or http://localhost).',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) {
    throw new NoAdapterError('navigator.gpu.requestAdapter() returned no adapter: WebGPU is disabled or unsupported on this GPU/driver.');
  }
  return openDevice(adapter);
}

/**
 * The device `choice` names in a browser, and a line saying which it is and why: the same rule and
 * wording as `acquireTrainingDevice` in Node (see {@link chooseTrainingDevice}). 'gpu' opens WebGPU
 * through {@link acquireBrowserDevice} (throws NoAdapterError without it); 'cpu' the CPU device;
 * 'auto' WebGPU unless its adapter is a software one (SwiftShader, slower than the CPU device) or
 * the browser has no WebGPU: there the CPU device.
 * @param powerPreference which adapter to ask for when the machine has several GPUs.
 * @param gpuOption how the page's user asks for WebGPU by name (the demo page: `?device=gpu`), said
 *   in the reason when auto passes over a software adapter.
 * @param cpuOptions the CPU device's options (its threads; on more than one the page must be
 *   cross-origin isolated, else it runs one and says why).
 */
export function acquireBrowserTrainingDevice(choice: DeviceChoice, powerPreference: GPUPowerPreference = 'high-performance', gpuOption = 'the gpu choice', cpuOptions: CpuDeviceOptions = {}): Promise<TrainingDevice> {
  return chooseTrainingDevice(choice, () => acquireBrowserDevice(powerPreference), gpuOption, cpuOptions);
}
