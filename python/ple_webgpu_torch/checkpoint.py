"""The runtime's checkpoints (src/checkpoint/checkpoint.ts) in PyTorch: one safetensors file holding every
parameter under its runtime name, the optimizer moments as optimizer.m1.<name> / optimizer.m2.<name>, and
string metadata: format, config (the model config as JSON), optimizer (JSON), step, and optional training
and data (the tabular encoder) JSON."""
import json
import os
import tempfile
from dataclasses import dataclass, field

import torch

from . import safetensors
from .model import MultiTaskModel
from .optim import load_state, make_optimizer, read_state, resolve_optimizer
from .safetensors import CheckpointError
from .spec import ConfigError

FORMAT = 'ple-webgpu-checkpoint/1'


@dataclass
class Checkpoint:
    model: MultiTaskModel
    optimizer: torch.optim.Optimizer
    #: The runtime's resolved optimizer config (kind, lr, beta1, beta2, eps, weightDecay, momentum).
    optimizer_config: dict
    step: int
    #: Every metadata entry, JSON ones decoded (config, optimizer, training, data, ...).
    meta: dict = field(default_factory=dict)


def read_file(path):
    with open(path, 'rb') as f:
        return f.read()


def load_checkpoint(path, dtype=torch.float32, data=None):
    """The model, its torch.optim optimizer with the moments and step, and the metadata of a checkpoint."""
    source = str(path)
    tensors, metadata = safetensors.decode(data if data is not None else read_file(path), source)
    if metadata.get('format') != FORMAT:
        raise CheckpointError(source, f'not a ple-webgpu checkpoint this package reads (metadata "format" is {json.dumps(metadata.get("format"))}, expected "{FORMAT}")')
    meta = {}
    for key, value in metadata.items():
        if key in ('format', 'step'):
            meta[key] = value
            continue
        try:
            meta[key] = json.loads(value)
        except ValueError:
            raise CheckpointError(source, f'metadata "{key}" is not valid JSON') from None
    for key in ('config', 'optimizer', 'step'):
        if key not in meta:
            raise CheckpointError(source, f'metadata "{key}" is missing')
    try:
        step = int(meta['step'])
    except ValueError:
        step = -1
    if step < 0 or str(step) != meta['step']:
        raise CheckpointError(source, f'metadata "step" must be a non-negative integer, got {meta["step"]}')
    meta['step'] = step
    try:
        model = MultiTaskModel(meta['config'], dtype=dtype)
        model.config_json = metadata['config']  # written back verbatim: the runtime compares configs as JSON text
        opt_config = resolve_optimizer(meta['optimizer'])
    except ConfigError as e:
        raise CheckpointError(source, f'cannot build this checkpoint: {e}') from None
    m1, m2 = {}, {}
    with torch.no_grad():
        for name, p in model.named_tensors():
            for what, key, into in (('parameter', name, None), ('optimizer.m1 of', 'optimizer.m1.' + name, m1), ('optimizer.m2 of', 'optimizer.m2.' + name, m2)):
                t = tensors.get(key)
                if t is None:
                    raise CheckpointError(source, f'{what} {name} is missing')
                if t.size != p.numel():
                    raise CheckpointError(source, f'{what} {name} has {t.size} values, the model needs {p.numel()} (shape {list(p.shape)})')
                if into is None:
                    p.copy_(torch.from_numpy(t.reshape(p.shape)))
                else:
                    into[name] = t
    optimizer = make_optimizer(model, opt_config)
    load_state(model, optimizer, m1, m2, step)
    return Checkpoint(model=model, optimizer=optimizer, optimizer_config=opt_config, step=step, meta=meta)


def checkpoint_bytes(model, optimizer, meta):
    """The file's bytes. meta: 'optimizer' (the runtime's optimizer JSON) and 'step' are required;
    'training', 'data' and any other entries are stored as JSON."""
    for key in ('optimizer', 'step'):
        if key not in meta:
            raise ValueError(f'save_checkpoint: meta needs "{key}"')
    state = read_state(model, optimizer)
    tensors = []
    for prefix, index in (('', None), ('optimizer.m1.', 0), ('optimizer.m2.', 1)):
        for name, p in model.named_tensors():
            value = p.detach().to(torch.float32).cpu().numpy() if index is None else state[name][index]
            tensors.append((prefix + name, value))
    config = getattr(model, 'config_json', None) or json.dumps(model.config, separators=(',', ':'))
    metadata = {'format': FORMAT, 'config': config, 'step': str(int(meta['step']))}
    for key, value in meta.items():
        if key not in ('format', 'config', 'step'):
            metadata[key] = json.dumps(value, separators=(',', ':'))
    return safetensors.encode(tensors, metadata)


def write_atomic(path, data):
    """Writes to a temporary file in the same folder, fsyncs it and renames it over `path`: a crash leaves
    the old file or the complete new one."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + '.tmp-', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_checkpoint(path, model, optimizer, meta):
    """Writes the runtime's checkpoint format atomically; the TypeScript runtime resumes and predicts from it."""
    write_atomic(path, checkpoint_bytes(model, optimizer, meta))
