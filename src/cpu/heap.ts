/**
 * The CPU device's memory: one WebAssembly.Memory that holds every buffer of a CPU plan (the
 * arenas, the small state buffers and the GEMM's scratch), so the WASM kernels (src/cpu/gemm.ts)
 * and the JS kernels (src/cpu/kernels.ts) read and write the same floats. Regions are element
 * offsets into `f32`; the memory never grows after a plan is laid out (growing would detach the
 * views). A shared heap (`shared: true`) is a shared memory that worker threads run kernels on too
 * (src/cpu/pool.ts); a shared memory needs a maximum, here its size.
 */
const PAGE_BYTES = 65536;
/** Every region starts on a multiple of this many floats (16 bytes: one v128). */
export const HEAP_ALIGN = 4;

export class CpuHeap {
  readonly memory: WebAssembly.Memory;
  readonly f32: Float32Array;
  readonly u32: Uint32Array;
  readonly shared: boolean;
  private next = 0;

  /** A heap of `floats` elements (rounded up to whole WASM pages), shared with worker threads or not. */
  constructor(
    readonly floats: number,
    { shared = false } = {},
  ) {
    const pages = Math.max(1, Math.ceil((floats * 4) / PAGE_BYTES));
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
    this.shared = shared;
    this.f32 = new Float32Array(this.memory.buffer);
    this.u32 = new Uint32Array(this.memory.buffer);
  }

  /** Reserves `size` floats, aligned to HEAP_ALIGN, and returns their element offset. */
  alloc(size: number): number {
    const at = alignUp(this.next);
    if (at + size > this.f32.length) throw new RangeError(`the CPU heap holds ${this.f32.length} floats; ${at + size} were asked for`);
    this.next = at + size;
    return at;
  }
}

export function alignUp(n: number): number {
  return Math.ceil(n / HEAP_ALIGN) * HEAP_ALIGN;
}
