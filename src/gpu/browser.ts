/** Device acquisition in a browser, through navigator.gpu. */
import { NoAdapterError, openDevice, type GpuContext } from './context.js';

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
