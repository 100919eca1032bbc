/**
 * The safetensors checkpoint format (Hugging Face): an 8-byte little-endian header length N, N bytes of
 * UTF-8 JSON header, then the raw tensor data. Only F32 tensors are supported. Browser-safe: no node imports.
 *
 * Tensor bytes are copied as-is, so values (NaN payloads included) round-trip exactly; this assumes a
 * little-endian host, which every WebGPU platform is.
 */

/** A named float32 tensor of a safetensors file: row-major `data` of the product of `shape` values. */
export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** A bad checkpoint or bad input to the encoder; the message starts with the source (file name or function). */
export class CheckpointError extends Error {
  constructor(
    readonly source: string,
    message: string,
  ) {
    super(`${source}: ${message}`);
    this.name = 'CheckpointError';
  }
}

const METADATA_KEY = '__metadata__';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The bytes of a safetensors file holding `tensors` (as F32) and string `metadata`.
 * @throws CheckpointError naming the tensor whose data length does not match its shape, or a duplicate name.
 */
export function encodeSafetensors(tensors: NamedTensor[], metadata?: Record<string, string>): Uint8Array {
  const fail = (message: string): never => {
    throw new CheckpointError('encodeSafetensors', message);
  };
  const header: Record<string, unknown> = Object.create(null); // so a tensor named __proto__ is just a key
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(`metadata "${k}" must be a string, got ${typeof v}`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const t of tensors) {
    if (t.name === METADATA_KEY) fail(`tensor name "${METADATA_KEY}" is reserved`);
    if (Object.hasOwn(header, t.name)) fail(`duplicate tensor name "${t.name}"`);
    if (!t.shape.every(isCount)) fail(`tensor "${t.name}": shape [${t.shape}] must be non-negative integers`);
    if (product(t.shape) !== t.data.length) {
      fail(`tensor "${t.name}": shape [${t.shape}] has ${product(t.shape)} elements but data has ${t.data.length}`);
    }
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil((8 + json.length) / 8) * 8 - 8; // pad so the data starts 8-byte aligned
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen); // trailing spaces are valid JSON whitespace
  let pos = 8 + headerLen;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/**
 * Reads a safetensors file's F32 tensors and string metadata.
 * @param source the name used in error messages (usually the file name).
 * @throws CheckpointError starting with `source` when the file is truncated, its header is not valid
 *   JSON, a tensor is not F32 or its offsets do not match its shape.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = 'safetensors',
): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const fail = (message: string): never => {
    throw new CheckpointError(source, message);
  };
  if (bytes.length < 8) fail(`not a safetensors file: too short (${bytes.length} bytes)`);
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(bytes.length - 8)) {
    // The header is a JSON object: another kind of file (a CSV, an ONNX model) is named for what it is, not "truncated".
    if (bytes.length > 8 && bytes[8] !== 0x7b /* { */) fail('not a safetensors file (it does not start with a safetensors header: an 8-byte length, then a JSON object)');
    fail(`truncated: header needs ${headerLen} bytes but the file has ${bytes.length - 8} after the length`);
  }
  const dataStart = 8 + Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch {
    fail('not a safetensors file: header is not valid UTF-8 JSON');
  }
  if (!isObject(header)) return fail('not a safetensors file: header is not a JSON object');

  const data = bytes.subarray(dataStart);
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isObject(entry) || !Object.values(entry).every((v) => typeof v === 'string')) {
        fail(`${METADATA_KEY} must be an object of string values`);
      }
      metadata = Object.fromEntries(Object.entries(entry as Record<string, string>));
      continue;
    }
    if (!isObject(entry)) return fail(`tensor "${name}": entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') fail(`tensor "${name}": missing dtype`);
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`tensor "${name}": missing or invalid shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      fail(`tensor "${name}": missing or invalid data_offsets`);
    }
    if (dtype !== 'F32') fail(`tensor "${name}": unsupported dtype ${dtype} (only F32 is supported)`);
    const [begin, end] = offsets as [number, number];
    if (end > data.length) fail(`truncated: tensor ${name} needs bytes ${begin}..${end} but the data has ${data.length}`);
    const count = product(shape as number[]);
    if (end - begin !== count * 4) {
      fail(`tensor "${name}": data_offsets span ${end - begin} bytes but shape [${shape}] needs ${count * 4}`);
    }
    // Copy into a fresh buffer: the source may be unaligned, and Buffer.slice would only make a view.
    const values = new Float32Array(count);
    new Uint8Array(values.buffer).set(data.subarray(begin, end));
    tensors.set(name, { name, shape: [...(shape as number[])], data: values });
  }
  return { tensors, metadata };
}
