/** Device acquisition in a browser, through navigator.gpu. */
import { NoAdapterError, openDevice, type GpuContext } from './context.js';

/**
 * Opens a WebGPU device in a browser through `navigator.gpu`, with the limits and features the
 * runtime uses (see {@link openDevice}).
 * @param powerPreference which adapter to ask for when the machine has several GPUs.
 * @throws NoAdapterError when the browser has no WebGPU (the message says which browsers and flags
 *   have it) or offers no adapter.
 */
export async function acquireBrowserDevice(powerPreference: GPUPowerPreference = 'high-performance'): Promise<GpuContext> {
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  if (!gpu) {
    throw new NoAdapterError(
      'WebGPU is not available in this browser (navigator.gpu is missing). Use a recent Chrome or Edge, ' +
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
