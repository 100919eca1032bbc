/**
 * The GPU context shared by every plan: the device, what the adapter is, the
 * pipeline cache and the buffers allocated through it (counted, so leaks show).
 * Host-specific acquisition lives in browser.ts and ../node.ts; both end here.
 */
import { PipelineCache } from './pipelines.js';

/** What an adapter is, from its `GPUAdapterInfo` (fields are '' where the host does not say). */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for a software or otherwise fallback adapter (SwiftShader reports true). */
  isFallback: boolean;
  /** The adapter's optional WebGPU features, sorted. */
  features: string[];
  /** Smallest and largest subgroup size the adapter may run (0 where the host does not say). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

/**
 * A CPU-backed adapter (SwiftShader): it runs each invocation as one lane of a 4-wide SIMD register on
 * the host's cores, so kernels take the shapes that suit that (register tiles, few loop trips).
 */
export function isSoftwareAdapter(adapter: Pick<AdapterReport, 'isFallback' | 'architecture'>): boolean {
  return adapter.isFallback || adapter.architecture === 'swiftshader';
}

/** The device was lost (destroyed, driver reset, GPU process crash): its work and buffers are gone. */
export class DeviceLostError extends Error {
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super(`the GPU device was lost (${reason}${detail ? `: ${detail}` : ''}); acquire a new device and resume from the last checkpoint`);
    this.name = 'DeviceLostError';
  }
}

/**
 * A WebGPU device and what every plan on it shares: the adapter's description, the compiled
 * pipelines, and the buffers allocated through it (counted, so leaks show). Get one from
 * {@link acquireBrowserDevice}, `acquireNodeDevice` (`ple-webgpu/node`) or {@link openDevice};
 * methods throw {@link DeviceLostError} once the device is lost.
 */
export class GpuContext {
  readonly pipelines: PipelineCache;
  private liveBuffers = new Set<GPUBuffer>();
  private liveBytesCount = 0;
  /** Set once the device is lost. */
  lostError: DeviceLostError | null = null;
  /** Validation and out-of-memory errors nobody captured, newest last (kept for reporting; bounded). */
  readonly uncapturedErrors: string[] = [];
  private readonly lostListeners = new Set<(e: DeviceLostError) => void>();

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    options: DeviceOptions = {},
  ) {
    this.pipelines = new PipelineCache(device, options.asyncPipelines ?? true);
    this.subgroups = device.features.has('subgroups') && adapter.subgroupMaxSize > 0 ? { minSize: adapter.subgroupMinSize, maxSize: adapter.subgroupMaxSize } : null;
    this.hostInstance = options.keepAlive;
    void device.lost.then((info) => {
      this.lostError = new DeviceLostError(info.reason ?? 'unknown', info.message ?? '');
      for (const listener of this.lostListeners) listener(this.lostError);
    });
    device.addEventListener?.('uncapturederror', (event) => {
      const message = (event as GPUUncapturedErrorEvent).error?.message ?? String(event);
      this.uncapturedErrors.push(message);
      if (this.uncapturedErrors.length > 20) this.uncapturedErrors.shift();
    });
  }

  /** Calls `listener` when the device is lost (at once if it already is); returns an unsubscribe function. */
  onLost(listener: (e: DeviceLostError) => void): () => void {
    if (this.lostError) listener(this.lostError);
    else this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** Throws the DeviceLostError if the device is gone. */
  assertAlive(): void {
    if (this.lostError) throw this.lostError;
  }

  /**
   * Awaits GPU work (a mapAsync, say); if it fails because the device was lost, or the device is
   * lost meanwhile, the caller gets the DeviceLostError rather than the host's raw message.
   */
  async guard<T>(work: Promise<T>): Promise<T> {
    try {
      const value = await work;
      this.assertAlive();
      return value;
    } catch (e) {
      // Give the lost promise a chance to settle first: hosts reject pending maps before it.
      await new Promise((r) => setTimeout(r, 0));
      if (this.lostError) throw this.lostError;
      throw e;
    }
  }

  /**
   * The subgroup sizes the device may run its kernels with, when it has the `subgroups` feature
   * (and the adapter says its sizes); null otherwise, and the kernels then take their plain paths.
   */
  readonly subgroups: { minSize: number; maxSize: number } | null;

  /** The host's GPU instance, referenced so it lives as long as the device. */
  readonly hostInstance: unknown;

  /** The device's limits (requested at the adapter's maximum for what plans need). */
  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  private placeholder: GPUBuffer | null = null;

  /** A small storage buffer bound where a kernel's binding is unused by a dispatch. */
  get placeholderBuffer(): GPUBuffer {
    // One aligned slot per binding a kernel may leave unused (kernels have at most 8 bindings).
    this.placeholder ??= this.createBuffer('placeholder', 8 * this.limits.minStorageBufferOffsetAlignment, GPUBufferUsage.STORAGE);
    return this.placeholder;
  }

  /** The buffers alive now, to free what a failed construction allocated after this point. */
  bufferMark(): ReadonlySet<GPUBuffer> {
    return new Set(this.liveBuffers);
  }

  /** Destroys every buffer allocated since `mark`. */
  destroyBuffersSince(mark: ReadonlySet<GPUBuffer>): void {
    for (const b of [...this.liveBuffers]) if (!mark.has(b)) this.destroyBuffer(b);
  }

  /** Number of buffers allocated through this context and not yet destroyed. */
  get liveBufferCount(): number {
    return this.liveBuffers.size;
  }

  /** Bytes of the buffers allocated through this context and not yet destroyed. */
  get liveBytes(): number {
    return this.liveBytesCount;
  }

  /**
   * Allocates a buffer of at least `size` bytes (rounded up to a multiple of 16), counted until
   * {@link GpuContext.destroyBuffer}. Throws DeviceLostError when the device is gone.
   */
  createBuffer(label: string, size: number, usage: GPUBufferUsageFlags, mappedAtCreation = false): GPUBuffer {
    this.assertAlive();
    // Sizes are rounded up to 16 bytes so any buffer can hold a vec4 tail and be copied.
    const bytes = Math.max(16, Math.ceil(size / 16) * 16);
    const buffer = this.device.createBuffer({ label, size: bytes, usage, mappedAtCreation });
    this.liveBuffers.add(buffer);
    this.liveBytesCount += bytes;
    return buffer;
  }

  /** A storage buffer holding `data`, for descriptor tables. */
  createDataBuffer(label: string, data: Uint32Array | Float32Array, usage: GPUBufferUsageFlags = GPUBufferUsage.STORAGE): GPUBuffer {
    const buffer = this.createBuffer(label, data.byteLength, usage, true);
    const view = data instanceof Uint32Array ? new Uint32Array(buffer.getMappedRange()) : new Float32Array(buffer.getMappedRange());
    view.set(data);
    buffer.unmap();
    return buffer;
  }

  /** Destroys a buffer allocated through this context and stops counting it. */
  destroyBuffer(buffer: GPUBuffer): void {
    if (!this.liveBuffers.delete(buffer)) return;
    this.liveBytesCount -= buffer.size;
    // After a device loss its buffers are gone already; the accounting above still balances.
    if (!this.lostError) buffer.destroy();
  }

  /** Reads a whole buffer back (for tests, inspection and checkpoints, not the training loop). */
  async readBuffer(buffer: GPUBuffer, byteOffset = 0, byteLength = buffer.size - byteOffset): Promise<ArrayBuffer> {
    this.assertAlive();
    const staging = this.createBuffer('readback', byteLength, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ);
    const encoder = this.device.createCommandEncoder({ label: 'readback' });
    encoder.copyBufferToBuffer(buffer, byteOffset, staging, 0, Math.ceil(byteLength / 4) * 4);
    this.device.queue.submit([encoder.finish()]);
    try {
      await this.guard(staging.mapAsync(GPUMapMode.READ));
      const copy = staging.getMappedRange(0, byteLength).slice(0);
      staging.unmap();
      return copy;
    } finally {
      this.destroyBuffer(staging);
    }
  }
}

/** Limits a training plan may need, requested at their adapter maximum. */
const requestedLimits = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
] as const;

/** What `adapter` is: vendor, architecture, device, description, whether it is a fallback (software) adapter, its features. */
export function describeAdapter(adapter: GPUAdapter): AdapterReport {
  const info = adapter.info;
  const legacy = adapter as unknown as { isFallbackAdapter?: boolean };
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallback: Boolean((info as unknown as { isFallbackAdapter?: boolean })?.isFallbackAdapter ?? legacy.isFallbackAdapter),
    features: [...adapter.features].sort(),
    subgroupMinSize: (info as unknown as { subgroupMinSize?: number })?.subgroupMinSize ?? 0,
    subgroupMaxSize: (info as unknown as { subgroupMaxSize?: number })?.subgroupMaxSize ?? 0,
  };
}

/** One line naming an adapter, e.g. `google swiftshader ... (SwiftShader driver 5.0.0) [fallback/software]`. */
export function formatAdapter(a: AdapterReport): string {
  const name = [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unknown adapter';
  return `${name}${a.description ? ` (${a.description})` : ''}${a.isFallback ? ' [fallback/software]' : ''}`;
}

/** Options of {@link openDevice}. */
export interface DeviceOptions {
  /** Compile pipelines with createComputePipelineAsync (default true; false under Dawn's Node binding). */
  asyncPipelines?: boolean;
  /** An object the context must keep referenced while the device lives (the host's GPU instance). */
  keepAlive?: unknown;
  /** Request the `subgroups` feature where the adapter offers it (default true); false opens a device without it. */
  subgroups?: boolean;
}

/**
 * Opens a device on `adapter` with the limits the runtime uses (storage binding and buffer size,
 * workgroup storage and size, at the adapter's maximum), and `timestamp-query` and `subgroups`
 * where offered (subgroups unless `options.subgroups` is false).
 * Rejects with the host's error when the adapter refuses the device.
 */
export async function openDevice(adapter: GPUAdapter, options: DeviceOptions = {}): Promise<GpuContext> {
  const requiredLimits: Record<string, number> = {};
  for (const name of requestedLimits) {
    const value = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  if (options.subgroups !== false && adapter.features.has('subgroups')) requiredFeatures.push('subgroups' as GPUFeatureName);
  const device = await adapter.requestDevice({ label: 'ple-webgpu', requiredLimits, requiredFeatures });
  return new GpuContext(device, describeAdapter(adapter), options);
}

/** No WebGPU device can be had on this host; the message says what to install or enable. */
export class NoAdapterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoAdapterError';
  }
}
