/**
 * Device acquisition in Node through the `webgpu` package (Dawn's Node binding).
 *
 * On a Linux host without a GPU driver Dawn finds no adapter; Debian's
 * `chromium` package ships SwiftShader, a CPU Vulkan driver, and Dawn finds it
 * when the Vulkan loader is pointed at its ICD file. We try the host's own
 * drivers first and fall back to SwiftShader only when they give nothing.
 */
import { existsSync } from 'node:fs';
import { NoAdapterError, openDevice, type GpuContext } from './gpu/context.js';

export * from './index.js';

export const swiftShaderIcd = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface NodeDeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Dawn toggles/options passed to `create()`, e.g. ['backend=vulkan']. */
  dawnOptions?: string[];
}

export async function acquireNodeDevice(options: NodeDeviceOptions = {}): Promise<GpuContext> {
  let webgpu: typeof import('webgpu');
  try {
    webgpu = await import('webgpu');
  } catch (e) {
    throw new NoAdapterError(`The npm package "webgpu" (Dawn for Node) could not be loaded: ${(e as Error).message}. Run npm install.`);
  }
  // Dawn's binding exposes the WebGPU enums (GPUBufferUsage, ...) as globals to install.
  for (const [name, value] of Object.entries(webgpu.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  // The GPU instance must outlive the device: Dawn's binding keeps polling it for
  // events, and an instance collected by the GC crashes the process.
  let instance = webgpu.create(options.dawnOptions ?? []);
  const request = () => instance.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  let adapter = await request();
  if (!adapter && !process.env.VK_ICD_FILENAMES && process.platform === 'linux' && existsSync(swiftShaderIcd)) {
    // The Vulkan loader reads this variable each time Dawn creates an instance.
    process.env.VK_ICD_FILENAMES = swiftShaderIcd;
    instance = webgpu.create(options.dawnOptions ?? []);
    adapter = await request();
  }
  if (!adapter) {
    throw new NoAdapterError(
      'No WebGPU adapter found. Install a GPU driver with Vulkan support, or on a GPU-less Linux host install ' +
        `the SwiftShader CPU driver that Debian's chromium package ships: apt-get install -y chromium libvulkan1 ` +
        `(it provides ${swiftShaderIcd}).`,
    );
  }
  return openDevice(adapter, { asyncPipelines: false, keepAlive: instance });
}
