/**
 * A small WebAssembly binary encoder: just what the CPU device's GEMM kernel (src/cpu/gemm.ts) and
 * element-wise kernels (src/cpu/elementwise.ts) emit. One module of functions over an imported
 * memory (`env.memory`, the CpuHeap's), each function built instruction by instruction with
 * FunctionBuilder. Opcodes and encodings follow the
 * WebAssembly core spec (binary format) and its fixed-width SIMD proposal; no relaxed SIMD.
 */

/** Value types. */
export const i32 = 0x7f;
export const f32 = 0x7d;
export const f64 = 0x7c;
export const v128 = 0x7b;
export type ValueType = typeof i32 | typeof f32 | typeof f64 | typeof v128;

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (32-bit). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

function vector(items: readonly number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

/** The block type of a block, loop or if that takes and leaves nothing. */
const EMPTY_BLOCK = 0x40;
/** log2 of the alignment hint written in memory instructions: natural alignment. */
const ALIGN_F32 = 2;
const ALIGN_F64 = 3;
const ALIGN_V128 = 4;

/**
 * One function's locals and code. Parameters are locals 0..params.length-1; `local` adds more.
 * Instruction helpers append to the code and return the builder, so a line reads as a sequence.
 * A function returns what its code leaves on the stack: nothing, or its `results`.
 */
export class FunctionBuilder {
  private readonly code: number[] = [];
  private readonly locals: ValueType[] = [];
  /** Open blocks, loops and ifs: `end` closes the innermost. */
  private depth = 0;

  constructor(
    readonly params: readonly ValueType[],
    readonly results: readonly ValueType[] = [],
  ) {}

  /** A new local of this type, zero-initialised; returns its index. */
  local(type: ValueType): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  private op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  private simd(opcode: number, ...immediates: number[]): this {
    return this.op(0xfd, ...uleb(opcode), ...immediates);
  }

  // Locals.
  get(l: number): this { return this.op(0x20, ...uleb(l)); }
  set(l: number): this { return this.op(0x21, ...uleb(l)); }
  tee(l: number): this { return this.op(0x22, ...uleb(l)); }

  // Control.
  block(): this { this.depth++; return this.op(0x02, EMPTY_BLOCK); }
  loop(): this { this.depth++; return this.op(0x03, EMPTY_BLOCK); }
  /** Pops an i32 condition. */
  if(): this { this.depth++; return this.op(0x04, EMPTY_BLOCK); }
  else(): this { return this.op(0x05); }
  end(): this {
    if (this.depth === 0) throw new Error('end without an open block');
    this.depth--;
    return this.op(0x0b);
  }
  /** Branch to the label `depth` blocks out (0: the innermost). */
  br(depth: number): this { return this.op(0x0c, ...uleb(depth)); }
  brIf(depth: number): this { return this.op(0x0d, ...uleb(depth)); }

  // i32.
  i32Const(v: number): this { return this.op(0x41, ...sleb(v)); }
  i32Eqz(): this { return this.op(0x45); }
  i32Eq(): this { return this.op(0x46); }
  i32LtS(): this { return this.op(0x48); }
  i32GtS(): this { return this.op(0x4a); }
  i32GeS(): this { return this.op(0x4e); }
  i32Add(): this { return this.op(0x6a); }
  i32Sub(): this { return this.op(0x6b); }
  i32Mul(): this { return this.op(0x6c); }
  i32And(): this { return this.op(0x71); }
  i32Shl(): this { return this.op(0x74); }
  /** Pops c, b, a; pushes c ? a : b. */
  select(): this { return this.op(0x1b); }

  // f32 (scalar) memory and arithmetic. `offset` is the constant byte offset added to the address.
  f32Load(offset = 0): this { return this.op(0x2a, ALIGN_F32, ...uleb(offset)); }
  f32Store(offset = 0): this { return this.op(0x38, ALIGN_F32, ...uleb(offset)); }
  f64Store(offset = 0): this { return this.op(0x39, ALIGN_F64, ...uleb(offset)); }
  f32Const(v: number): this {
    const bytes = new Uint8Array(new Float32Array([v]).buffer);
    return this.op(0x43, ...bytes);
  }
  f32Add(): this { return this.op(0x92); }
  /** Pops an i32; pushes the f32 with its bits. */
  f32ReinterpretI32(): this { return this.op(0xbe); }
  f32Max(): this { return this.op(0x97); }

  // SIMD.
  v128Load(offset = 0): this { return this.simd(0x00, ALIGN_V128, ...uleb(offset)); }
  /** Loads one f32 and fills the four lanes with it. */
  v128Load32Splat(offset = 0): this { return this.simd(0x09, ALIGN_F32, ...uleb(offset)); }
  v128Store(offset = 0): this { return this.simd(0x0b, ALIGN_V128, ...uleb(offset)); }
  /** A v128 of four equal f32 lanes. */
  v128ConstF32(v: number): this {
    const lane = [...new Uint8Array(new Float32Array([v]).buffer)];
    return this.simd(0x0c, ...lane, ...lane, ...lane, ...lane);
  }
  f32x4Splat(): this { return this.simd(0x13); }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Mul(): this { return this.simd(0xe6); }
  f32x4Max(): this { return this.simd(0xe9); }

  // Added for the element-wise kernels (src/cpu/elementwise.ts). Their operands sit at any float
  // offset, so their vector loads and stores carry the f32 alignment hint.
  f32Mul(): this { return this.op(0x94); }
  f32Sub(): this { return this.op(0x93); }
  f32Div(): this { return this.op(0x95); }
  f64Add(): this { return this.op(0xa0); }
  f64Mul(): this { return this.op(0xa2); }
  f64PromoteF32(): this { return this.op(0xbb); }
  /** v128.load with the f32 alignment hint (any float offset). */
  v128LoadF32(offset = 0): this { return this.simd(0x00, ALIGN_F32, ...uleb(offset)); }
  /** v128.store with the f32 alignment hint (any float offset). */
  v128StoreF32(offset = 0): this { return this.simd(0x0b, ALIGN_F32, ...uleb(offset)); }
  /** Stores lane `lane` of a v128 as one f32. */
  v128Store32Lane(lane: number, offset = 0): this { return this.simd(0x5a, ALIGN_F32, ...uleb(offset), lane); }
  /** Replaces lane `lane` of the vector on the stack with the f32 at the address under it. */
  v128Load32Lane(lane: number, offset = 0): this { return this.simd(0x56, ALIGN_F32, ...uleb(offset), lane); }
  f32x4ExtractLane(lane: number): this { return this.simd(0x1f, lane); }
  /** Lane-wise a > b: all ones or all zeros (false for NaN). */
  f32x4Gt(): this { return this.simd(0x44); }
  v128And(): this { return this.simd(0x4e); }
  f32x4Sqrt(): this { return this.simd(0xe3); }
  f32x4Sub(): this { return this.simd(0xe5); }
  f32x4Div(): this { return this.simd(0xe7); }
  f32x4Min(): this { return this.simd(0xe8); }
  /** Round to nearest, ties to even. */
  f32x4Nearest(): this { return this.simd(0x6a); }
  /** Pops an i32; a v128 of four equal i32 lanes. */
  i32x4Splat(): this { return this.simd(0x11); }
  /** Lane-wise shift left by an i32 popped after the vector. */
  i32x4Shl(): this { return this.simd(0xab); }
  i32x4Add(): this { return this.simd(0xae); }
  /** f32 lanes to i32, saturating (NaN to 0). */
  i32x4TruncSatF32x4S(): this { return this.simd(0xf8); }

  // Added for the gradient norm's float64 sum of squares.
  /** Lanes 0 and 1 of an f32x4 as an f64x2 (exact). */
  f64x2PromoteLowF32x4(): this { return this.simd(0x5f); }
  /** Pops b, a; the bytes of a then b (0-15 a's, 16-31 b's) picked by the 16 lane indices. */
  i8x16Shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16) throw new Error('i8x16.shuffle takes 16 lane indices');
    return this.simd(0x0d, ...lanes);
  }
  f64x2Add(): this { return this.simd(0xf0); }
  f64x2Mul(): this { return this.simd(0xf2); }
  f64x2ExtractLane(lane: number): this { return this.simd(0x21, lane); }

  // Added for the task losses.
  /** Pops an i32; pushes it as an f32. */
  f32ConvertI32S(): this { return this.op(0xb2); }
  /** A v128 of these four f32 lanes. */
  v128ConstF32x4(lanes: readonly [number, number, number, number]): this {
    return this.simd(0x0c, ...new Uint8Array(new Float32Array(lanes).buffer));
  }
  /** Lane-wise a >= b: all ones or all zeros (false for NaN). */
  f32x4Ge(): this { return this.simd(0x46); }
  f32x4Abs(): this { return this.simd(0xe0); }
  /** Pops mask, b, a; the bits of a where mask's are set, else b's. */
  v128Bitselect(): this { return this.simd(0x52); }

  /** for (counter = 0; counter < limit; counter += step) body(): `limit` pushes the bound, read each time round. */
  countUp(counter: number, limit: () => void, step: number, body: () => void): this {
    this.i32Const(0).set(counter).block().loop();
    this.get(counter);
    limit();
    this.i32GeS().brIf(1);
    body();
    return this.get(counter).i32Const(step).i32Add().set(counter).br(0).end().end();
  }

  /** The function body: its locals (run-length encoded by type), code and final `end`. */
  encode(): number[] {
    if (this.depth !== 0) throw new Error(`${this.depth} block(s) left open`);
    const runs: number[][] = [];
    for (let i = 0; i < this.locals.length; ) {
      let j = i;
      while (j < this.locals.length && this.locals[j] === this.locals[i]) j++;
      runs.push([...uleb(j - i), this.locals[i]]);
      i = j;
    }
    const body = [...vector(runs), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

export interface ExportedFunction {
  name: string;
  fn: FunctionBuilder;
}

/** The most pages a 32-bit WebAssembly memory may have (4 GiB). */
const MAX_PAGES = 65536;

/**
 * A module importing its memory as `env.memory` (at least one page, any maximum) and exporting
 * these functions. With `sharedMemory` the import is a shared memory (what worker threads share;
 * src/cpu/pool.ts): a module instantiates only on a memory whose sharedness matches its import, so
 * a heap's kernels are compiled for the kind of memory it has.
 */
export function encodeModule(functions: readonly ExportedFunction[], { sharedMemory = false } = {}): Uint8Array<ArrayBuffer> {
  const types = functions.map(({ fn }) => [0x60, ...uleb(fn.params.length), ...fn.params, ...uleb(fn.results.length), ...fn.results]);
  // Limits: flags 0x00 (minimum only) or 0x03 (shared, minimum and maximum: a shared memory needs one).
  const limits = sharedMemory ? [0x03, ...uleb(1), ...uleb(MAX_PAGES)] : [0x00, ...uleb(1)];
  const memoryImport = [...name('env'), ...name('memory'), 0x02, ...limits];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, // \0asm
    0x01, 0x00, 0x00, 0x00, // version 1
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(functions.map((_, i) => uleb(i)))),
    ...section(7, vector(functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vector(functions.map(({ fn }) => fn.encode()))),
  ];
  return new Uint8Array(bytes);
}

/**
 * Compiles a module's functions once per process for each kind of memory (shared or not), on first
 * use: `(sharedMemory) => Promise<WebAssembly.Module>`.
 */
export function moduleCompiler(functions: () => readonly ExportedFunction[]): (sharedMemory: boolean) => Promise<WebAssembly.Module> {
  const compiled = new Map<boolean, Promise<WebAssembly.Module>>();
  return (sharedMemory) => {
    let module = compiled.get(sharedMemory);
    if (!module) compiled.set(sharedMemory, (module = WebAssembly.compile(encodeModule(functions(), { sharedMemory }))));
    return module;
  };
}
