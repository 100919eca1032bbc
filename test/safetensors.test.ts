/** The safetensors checkpoint format and crash-safe file writes. */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type NamedTensor } from '../src/checkpoint/safetensors.js';
import { readFileBytes, writeFileAtomic } from '../src/checkpoint/atomic-file.js';

const tensor = (name: string, shape: number[], seed = 1): NamedTensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, shape, data: Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i * 0.37) * (i + 1)) };
};

const sample = (): NamedTensor[] => [
  tensor('experts.0.w', [3, 5], 1),
  tensor('scalar', [], 2),
  tensor('one', [1], 3),
  tensor('tower/τ.bias', [7], 4),
  tensor('big', [300, 7], 5),
  tensor('cube', [2, 3, 4], 6),
  tensor('empty', [0, 4], 7),
];

const headerOf = (bytes: Uint8Array) => {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { n, json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) };
};

/** Build a file from a header string and data bytes, per the spec, with no help from the encoder. */
const build = (header: string, data: Uint8Array = new Uint8Array()): Uint8Array => {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
};

function checkpointError(f: () => unknown): CheckpointError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return e as CheckpointError;
  }
  throw new Error('expected a CheckpointError');
}

describe('safetensors encode/decode', () => {
  it('round-trips several tensors and metadata exactly', () => {
    const tensors = sample();
    const metadata = { format: 'pt', step: '1200', config: JSON.stringify({ a: [1, 2] }), 'ключ': 'значение' };
    const { tensors: out, metadata: meta } = decodeSafetensors(encodeSafetensors(tensors, metadata));
    expect(meta).toEqual(metadata);
    expect([...out.keys()]).toEqual(tensors.map((t) => t.name));
    for (const t of tensors) {
      const d = out.get(t.name)!;
      expect(d.name).toBe(t.name);
      expect(d.shape).toEqual(t.shape);
      expect(d.data).toBeInstanceOf(Float32Array);
      expect(Array.from(d.data)).toEqual(Array.from(t.data));
    }
  });

  it('preserves special float values bit for bit', () => {
    const data = new Float32Array([NaN, Infinity, -Infinity, -0, 1e-45, 3.4028234663852886e38]);
    const got = decodeSafetensors(encodeSafetensors([{ name: 'x', shape: [6], data }])).tensors.get('x')!.data;
    expect(new Uint8Array(got.buffer)).toEqual(new Uint8Array(data.buffer));
  });

  it('writes an 8-aligned, valid JSON header with contiguous offsets in order', () => {
    const tensors = sample();
    const metadatas: (Record<string, string> | undefined)[] = [undefined, { a: 'b' }, { k: 'x'.repeat(13) }];
    for (const metadata of metadatas) {
      const bytes = encodeSafetensors(tensors, metadata);
      const { n, json } = headerOf(bytes);
      expect((8 + n) % 8).toBe(0);
      // First 8 bytes are the header length, little-endian.
      expect(Array.from(bytes.subarray(0, 8))).toEqual([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >> 24) & 0xff, 0, 0, 0, 0]);
      expect(json.__metadata__).toEqual(metadata);
      let offset = 0;
      for (const t of tensors) {
        expect(json[t.name]).toEqual({ dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] });
        offset += t.data.length * 4;
      }
      expect(bytes.length).toBe(8 + n + offset);
    }
  });

  it('decodes a hand-built file (independent oracle)', () => {
    const data = new Uint8Array(8);
    const view = new DataView(data.buffer);
    view.setFloat32(0, 1.5, true);
    view.setFloat32(4, -2, true);
    const file = build('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"format":"pt"}}', data);
    const { tensors, metadata } = decodeSafetensors(file);
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.get('w')).toEqual({ name: 'w', shape: [2], data: new Float32Array([1.5, -2]) });
    // Cross-check the encoder against the same bytes' data section.
    const enc = encodeSafetensors([{ name: 'w', shape: [2], data: new Float32Array([1.5, -2]) }]);
    expect(enc.subarray(enc.length - 8)).toEqual(data);
  });

  it('decodes from unaligned memory and from a Buffer into independent copies', () => {
    const bytes = encodeSafetensors([tensor('a', [5]), tensor('b', [3])]);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const unaligned = shifted.subarray(1);
    const fromUnaligned = decodeSafetensors(unaligned).tensors;
    const fromBuffer = decodeSafetensors(Buffer.from(bytes)).tensors;
    for (const out of [fromUnaligned, fromBuffer]) {
      expect(Array.from(out.get('b')!.data)).toEqual(Array.from(tensor('b', [3]).data));
      expect(out.get('b')!.data.byteOffset).toBe(0);
    }
    unaligned.fill(0);
    expect(Array.from(fromUnaligned.get('a')!.data)).toEqual(Array.from(tensor('a', [5]).data));
  });

  it('returns empty metadata when the file has none', () => {
    expect(decodeSafetensors(encodeSafetensors([tensor('a', [2])])).metadata).toEqual({});
  });

  describe('encode validation', () => {
    const cases: [string, () => unknown, RegExp][] = [
      ['shape/data mismatch', () => encodeSafetensors([tensor('ok', [2]), { name: 'bad', shape: [2, 3], data: new Float32Array(5) }]), /"bad".*6 elements.*data has 5/],
      ['duplicate names', () => encodeSafetensors([tensor('a', [1]), tensor('a', [2])]), /duplicate tensor name "a"/],
      ['non-string metadata', () => encodeSafetensors([], { step: 3 as unknown as string }), /metadata "step" must be a string/],
      ['reserved name', () => encodeSafetensors([tensor('__metadata__', [1])]), /reserved/],
      ['negative dim', () => encodeSafetensors([{ name: 'n', shape: [-1], data: new Float32Array(0) }]), /"n".*non-negative/],
    ];
    it.each(cases)('%s', (_, f, re) => {
      const e = checkpointError(f);
      expect(e.message).toMatch(/^encodeSafetensors: /);
      expect(e.message).toMatch(re);
    });
  });

  describe('decode validation', () => {
    const good = encodeSafetensors(sample(), { a: 'b' });
    const f32 = (n: number) => new Uint8Array(n * 4);
    const cases: [string, Uint8Array, RegExp][] = [
      ['too short', good.subarray(0, 5), /not a safetensors file: too short/],
      ['cut in half', good.subarray(0, good.length >> 1), /truncated: tensor big needs bytes \d+\.\.\d+ but the data has \d+/],
      ['cut inside the header', good.subarray(0, 40), /truncated: header needs/],
      ['random bytes', Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) & 0xff), /truncated|not a safetensors file/],
      ['small length, garbage header', build('\x00\xff{{not json', f32(1)), /not a safetensors file/],
      ['JSON array header', build('[1,2,3]'), /not a safetensors file: header is not a JSON object/],
      ['JSON null header', build('null'), /not a safetensors file/],
      ['missing dtype', build('{"w":{"shape":[1],"data_offsets":[0,4]}}', f32(1)), /"w": missing dtype/],
      ['missing shape', build('{"w":{"dtype":"F32","data_offsets":[0,4]}}', f32(1)), /"w": missing or invalid shape/],
      ['missing data_offsets', build('{"w":{"dtype":"F32","shape":[1]}}', f32(1)), /"w": missing or invalid data_offsets/],
      ['reversed data_offsets', build('{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}', f32(1)), /invalid data_offsets/],
      ['F64 dtype', build('{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', f32(2)), /"w": unsupported dtype F64/],
      ['offsets past the end', build('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}', f32(2)), /truncated: tensor w needs bytes 0\.\.12 but the data has 8/],
      ['wrong offset length', build('{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}', f32(4)), /"w": data_offsets span 12 bytes but shape \[2,2\] needs 16/],
      ['non-string metadata', build('{"__metadata__":{"step":3}}'), /__metadata__ must be an object of string values/],
    ];
    it.each(cases)('%s', (_, bytes, re) => {
      const e = checkpointError(() => decodeSafetensors(bytes, 'ckpt/model.safetensors'));
      expect(e.message).toMatch(/^ckpt\/model\.safetensors: /);
      expect(e.source).toBe('ckpt/model.safetensors');
      expect(e.message).toMatch(re);
    });

    it('rejects a header length beyond 2^53 as truncated', () => {
      const bytes = new Uint8Array(16).fill(0xff);
      bytes[8] = 0x7b; // the start of a JSON header: a cut safetensors file, not another kind of file
      expect(checkpointError(() => decodeSafetensors(bytes)).message).toMatch(/truncated/);
    });
  });
});

describe('writeFileAtomic', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ple-safetensors-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const noTemps = async (d: string) => expect((await readdir(d)).filter((f) => f.includes('.tmp-'))).toEqual([]);

  it('writes a new file that reads back byte for byte', async () => {
    const path = join(dir, 'new.safetensors');
    const bytes = encodeSafetensors(sample(), { step: '1' });
    await writeFileAtomic(path, bytes);
    const back = await readFileBytes(path);
    expect(back).toEqual(bytes);
    expect(Buffer.isBuffer(back)).toBe(false);
    expect(decodeSafetensors(back, path).metadata).toEqual({ step: '1' });
    await noTemps(dir);
  });

  it('replaces an existing file fully, even with shorter content', async () => {
    const path = join(dir, 'over.bin');
    await writeFile(path, new Uint8Array(4096).fill(7));
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect(new Uint8Array(await readFile(path))).toEqual(new Uint8Array([1, 2, 3]));
    await noTemps(dir);
  });

  it('propagates a failure when the directory does not exist', async () => {
    await expect(writeFileAtomic(join(dir, 'missing', 'x.bin'), new Uint8Array([1]))).rejects.toThrow(/ENOENT/);
    await noTemps(dir);
  });

  it('removes the temp file when the rename fails and leaves the target untouched', async () => {
    const target = join(dir, 'is-a-dir');
    await mkdir(target);
    await writeFile(join(target, 'keep'), 'x');
    await expect(writeFileAtomic(target, new Uint8Array([1, 2]))).rejects.toThrow();
    await noTemps(dir);
    expect(await readdir(target)).toEqual(['keep']);
  });
});
