"""The safetensors format (an 8-byte little-endian header length N, N bytes of UTF-8 JSON header, then the
raw tensor bytes), read and written without the `safetensors` package. Checkpoints hold F32 tensors only,
like the TypeScript reader (src/checkpoint/safetensors.ts)."""
import json
import struct

import numpy as np

METADATA_KEY = '__metadata__'


class CheckpointError(ValueError):
    """A bad checkpoint file; the message starts with the file name."""

    def __init__(self, source, message):
        super().__init__(f'{source}: {message}')
        self.source = source


def encode(tensors, metadata=None):
    """tensors: list of (name, numpy array). Returns the file's bytes (float32 data, 8-byte aligned)."""
    header = {}
    if metadata is not None:
        for k, v in metadata.items():
            if not isinstance(v, str):
                raise CheckpointError('encode', f'metadata "{k}" must be a string, got {type(v).__name__}')
        header[METADATA_KEY] = dict(metadata)
    chunks = []
    offset = 0
    for name, array in tensors:
        if name == METADATA_KEY or name in header:
            raise CheckpointError('encode', f'tensor name "{name}" is reserved or repeated')
        data = np.ascontiguousarray(array, dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(np.shape(array)), 'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    padded = -(-(8 + len(text)) // 8) * 8 - 8  # the data starts 8-byte aligned; spaces are JSON whitespace
    return struct.pack('<Q', padded) + text + b' ' * (padded - len(text)) + b''.join(chunks)


def decode(data, source='safetensors'):
    """Returns ({name: float32 numpy array}, {metadata key: string}), tensors in file order."""
    def fail(message):
        raise CheckpointError(source, message)

    if len(data) < 8:
        fail(f'not a safetensors file: too short ({len(data)} bytes)')
    (length,) = struct.unpack('<Q', data[:8])
    if length > len(data) - 8:
        fail(f'not a safetensors file, or a truncated one: its header length is {length} bytes but {len(data) - 8} bytes follow it')
    try:
        header = json.loads(data[8:8 + length].decode('utf-8'))
    except (UnicodeDecodeError, ValueError):
        fail('not a safetensors file: header is not valid UTF-8 JSON')
    if not isinstance(header, dict):
        fail('not a safetensors file: header is not a JSON object')
    body = memoryview(data)[8 + length:]
    metadata = header.pop(METADATA_KEY, {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        fail(f'{METADATA_KEY} must be an object of string values')
    tensors = {}
    for name, entry in header.items():
        if not isinstance(entry, dict):
            fail(f'tensor "{name}": entry is not an object')
        shape, offsets, dtype = entry.get('shape'), entry.get('data_offsets'), entry.get('dtype')
        if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
            fail(f'tensor "{name}": missing or invalid shape')
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) and o >= 0 for o in offsets) or offsets[0] > offsets[1]:
            fail(f'tensor "{name}": missing or invalid data_offsets')
        if dtype != 'F32':
            fail(f'tensor "{name}": unsupported dtype {dtype} (only F32 is supported)')
        begin, end = offsets
        if end > len(body):
            fail(f'truncated: tensor {name} needs bytes {begin}..{end} but the data has {len(body)}')
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != 4 * count:
            fail(f'tensor "{name}": data_offsets span {end - begin} bytes but shape {shape} needs {4 * count}')
        tensors[name] = np.frombuffer(body[begin:end], dtype='<f4').reshape(shape).copy()
    return tensors, metadata
