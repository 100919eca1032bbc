/**
 * Compute pipelines, created once per distinct WGSL source and cached. A
 * compile already in flight is shared rather than repeated (pipeline creation
 * takes seconds on software adapters), and WGSL errors are reported with the
 * offending source lines.
 */
export class ShaderCompileError extends Error {
  constructor(label: string, messages: string) {
    super(`WGSL compilation of ${label} failed:\n${messages}`);
    this.name = 'ShaderCompileError';
  }
}

export class PipelineCache {
  private readonly cache = new Map<string, Promise<GPUComputePipeline>>();

  /**
   * `asyncCompile`: use createComputePipelineAsync. Dawn's Node binding never
   * settles that promise (its process exits or crashes waiting), so Node hosts
   * compile synchronously.
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly asyncCompile: boolean,
  ) {}

  get size(): number {
    return this.cache.size;
  }

  get(label: string, source: string, entryPoint = 'main'): Promise<GPUComputePipeline> {
    const key = `${entryPoint}\n${source}`;
    let pending = this.cache.get(key);
    if (!pending) {
      pending = this.compile(label, source, entryPoint);
      this.cache.set(key, pending);
      pending.catch(() => this.cache.delete(key));
    }
    return pending;
  }

  private async compile(label: string, source: string, entryPoint: string): Promise<GPUComputePipeline> {
    const module = this.device.createShaderModule({ label, code: source });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length > 0) {
      const lines = source.split('\n');
      const text = errors
        .map((m) => `  ${label}:${m.lineNum}:${m.linePos}: ${m.message}\n    ${lines[m.lineNum - 1] ?? ''}`)
        .join('\n');
      throw new ShaderCompileError(label, text);
    }
    this.device.pushErrorScope('validation');
    const descriptor: GPUComputePipelineDescriptor = { label, layout: 'auto', compute: { module, entryPoint } };
    const pipeline = this.asyncCompile
      ? await this.device.createComputePipelineAsync(descriptor)
      : this.device.createComputePipeline(descriptor);
    const error = await this.device.popErrorScope();
    if (error) throw new ShaderCompileError(label, error.message);
    return pipeline;
  }
}
