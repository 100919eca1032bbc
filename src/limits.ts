/** Errors for plans that do not fit the device. */
export class LimitError extends Error {
  constructor(
    /** The WebGPU limit that would be exceeded, e.g. maxStorageBufferBindingSize. */
    readonly limit: string,
    message: string,
    /** The largest batch size that fits, when the batch size is what overflows. */
    readonly maxBatchSize?: number,
  ) {
    super(message);
    this.name = 'LimitError';
  }
}
