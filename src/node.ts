/**
 * Device acquisition in Node through the `webgpu` package (Dawn's Node binding).
 * Everything of `ple-webgpu` is re-exported, so a Node program imports from here alone.
 *
 * On a Linux host without a GPU driver Dawn finds no adapter; Debian's
 * `chromium` package ships SwiftShader, a CPU Vulkan driver, and Dawn finds it
 * when the Vulkan loader is pointed at its ICD file. We try the host's own
 * drivers first and fall back to SwiftShader only when they give nothing.
 * @module ple-webgpu/node
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NoAdapterError, openDevice, type GpuContext } from './gpu/context.js';
import { chooseTrainingDevice, type DeviceChoice, type TrainingDevice } from './device-choice.js';
import type { CpuDeviceOptions } from './cpu/device.js';
import { setDawnPollInterval } from './gpu/dawn-polling.js';

export * from './index.js';
export { writeFileAtomic, readFileBytes } from './checkpoint/atomic-file.js';

/** Where Debian's chromium package puts SwiftShader's Vulkan ICD file, the fallback adapter on a GPU-less Linux host. */
export const swiftShaderIcd = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Options of {@link acquireNodeDevice}. */
export interface NodeDeviceOptions {
  /** Which adapter to ask for when the machine has several GPUs (default 'high-performance'). */
  powerPreference?: GPUPowerPreference;
  /** Dawn toggles/options passed to `create()`, e.g. ['backend=vulkan']. */
  dawnOptions?: string[];
  /**
   * Dawn's robustness transform: every storage-buffer access of every shader clamped to its
   * binding (default true). False turns it off (Dawn's `disable_robustness` toggle): a third
   * faster on a software adapter, but an out-of-bounds access then reads or writes whatever lies
   * there. Only for a device that runs nothing but the runtime's own tested kernels on validated
   * inputs (the CLI and the benchmarks); the tests keep it on so out-of-bounds bugs still show.
   */
  robustness?: boolean;
  /**
   * Milliseconds between the binding's checks for finished GPU work while a promise waits
   * (default 1; 0: the binding's own continuous checking, which keeps a CPU core busy for as long
   * as the GPU works). Process-wide: see src/gpu/dawn-polling.ts.
   */
  pollIntervalMs?: number;
  /**
   * Probe the host's own drivers in a child process whose output is kept back (about a second),
   * so that what drivers print while they are probed and rejected (Mesa's "XDG_RUNTIME_DIR is
   * invalid", Dawn's warning about an unsuitable Vulkan device) does not reach the terminal.
   * The device is then opened in this process, where errors stay visible; when no adapter is
   * found at all, the kept-back output is part of the error. `npm start` sets it.
   */
  quietProbe?: boolean;
  /** Request the `subgroups` feature where the adapter offers it (default true); see {@link DeviceOptions}. */
  subgroups?: boolean;
}

/** `dawnOptions` with `disable_robustness` added to its enabled Dawn features (one `enable-dawn-features=` entry). */
export function withoutRobustness(dawnOptions: readonly string[]): string[] {
  const key = 'enable-dawn-features=';
  const features = dawnOptions.filter((o) => o.startsWith(key)).flatMap((o) => o.slice(key.length).split(',')).filter(Boolean);
  if (!features.includes('disable_robustness')) features.push('disable_robustness');
  return [...dawnOptions.filter((o) => !o.startsWith(key)), key + features.join(',')];
}

/**
 * Runs `f` with XDG_RUNTIME_DIR pointing at an empty private folder when it is unset: Mesa's
 * Vulkan drivers look for a Wayland display there while they are probed and print an "error"
 * when the variable is missing, though nothing is wrong.
 */
async function withRuntimeDir<T>(f: () => Promise<T>): Promise<T> {
  if (process.env.XDG_RUNTIME_DIR || process.platform !== 'linux') return f();
  const dir = mkdtempSync(join(tmpdir(), 'ple-webgpu-runtime-'));
  process.env.XDG_RUNTIME_DIR = dir;
  try {
    return await f();
  } finally {
    delete process.env.XDG_RUNTIME_DIR;
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether the host's own drivers give an adapter, asked in a child process; its output (driver noise) is returned, not printed. */
function probeHostDrivers(options: NodeDeviceOptions): { found: boolean; output: string } {
  const url = pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  const script =
    `const w = await import(${JSON.stringify(url)}); const i = w.create(${JSON.stringify(options.dawnOptions ?? [])});` +
    `const a = await i.requestAdapter({ powerPreference: ${JSON.stringify(options.powerPreference ?? 'high-performance')} });` +
    `process.stdout.write(a ? 'found' : 'none'); process.exit(0);`;
  try {
    const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000, encoding: 'utf8' });
    return { found: stdout.endsWith('found'), output: '' };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { found: false, output: err.stderr || err.message };
  }
}

/**
 * Opens a WebGPU device in Node through Dawn (the `webgpu` package, an optional peer dependency):
 * the host's own GPU first, then SwiftShader on a Linux host without one when
 * {@link swiftShaderIcd} exists. Pipelines compile synchronously (Dawn's binding).
 * @throws NoAdapterError when the `webgpu` package is not installed (the message names
 *   `npm install webgpu`) or no adapter is found (the message names what to install).
 */
export function acquireNodeDevice(options: NodeDeviceOptions = {}): Promise<GpuContext> {
  return withRuntimeDir(() => acquire(options));
}

async function acquire(options: NodeDeviceOptions): Promise<GpuContext> {
  let webgpu: typeof import('webgpu');
  try {
    webgpu = await import('webgpu');
  } catch (e) {
    // An optional peer dependency of this package: browser users never need it.
    throw new NoAdapterError(`ple-webgpu/node needs the npm package "webgpu" (Dawn for Node), which could not be loaded: ${(e as Error).message}. Install it with: npm install webgpu`);
  }
  // Dawn's binding exposes the WebGPU enums (GPUBufferUsage, ...) as globals to install.
  for (const [name, value] of Object.entries(webgpu.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  // The GPU instance must outlive the device: Dawn's binding keeps polling it for
  // events, and an instance collected by the GC crashes the process.
  setDawnPollInterval(options.pollIntervalMs ?? 1);
  const dawnOptions = options.robustness === false ? withoutRobustness(options.dawnOptions ?? []) : (options.dawnOptions ?? []);
  const canFallBack = !process.env.VK_ICD_FILENAMES && process.platform === 'linux' && existsSync(swiftShaderIcd);
  // With quietProbe, the host's drivers are asked in a child process first; only when they give an adapter are they asked here.
  const probe = options.quietProbe && canFallBack ? probeHostDrivers(options) : { found: true, output: '' };
  const request = () => instance.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  let instance = probe.found ? webgpu.create(dawnOptions) : null!;
  let adapter = probe.found ? await request() : null;
  if (!adapter && canFallBack) {
    // The Vulkan loader reads this variable each time Dawn creates an instance.
    process.env.VK_ICD_FILENAMES = swiftShaderIcd;
    instance = webgpu.create(dawnOptions);
    adapter = await request();
  }
  if (!adapter) {
    throw new NoAdapterError(
      'No WebGPU adapter found. Install a GPU driver with Vulkan support, or on a GPU-less Linux host install ' +
        `the SwiftShader CPU driver that Debian's chromium package ships: apt-get install -y chromium libvulkan1 ` +
        `(it provides ${swiftShaderIcd}).` +
        (probe.output ? `\nWhat the drivers printed while probed:\n${probe.output.trim()}` : ''),
    );
  }
  return openDevice(adapter, { asyncPipelines: false, keepAlive: instance, subgroups: options.subgroups });
}

/**
 * The device `choice` names, and a line saying which it is and why (see {@link chooseTrainingDevice},
 * the rule the browser's `acquireBrowserTrainingDevice` applies too). 'gpu' opens WebGPU through
 * {@link acquireNodeDevice} (throws NoAdapterError without an adapter); 'cpu' the CPU device
 * (src/cpu/) with `cpuOptions` (its threads); 'auto' WebGPU unless its only adapter is a software one (SwiftShader) or there is
 * none: there the CPU device trains faster (`npm run bench` measures both in one run).
 */
export function acquireTrainingDevice(choice: DeviceChoice, options: NodeDeviceOptions = {}, cpuOptions: CpuDeviceOptions = {}): Promise<TrainingDevice> {
  return chooseTrainingDevice(choice, () => acquireNodeDevice(options), '--device gpu', cpuOptions);
}
