"""ple-webgpu models and checkpoints in PyTorch: load a checkpoint written by the WebGPU runtime as a
torch.nn.Module with its optimizer, train it (across processes with DDP: `python3 -m
ple_webgpu_torch.train`), and write it back in the runtime's format."""
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .loss import runtime_loss
from .model import MultiTaskModel
from .safetensors import CheckpointError
from .spec import ConfigError
from .tabular import DataError, TabularEncoder, parse_csv, read_csv

__all__ = ['Checkpoint', 'CheckpointError', 'ConfigError', 'DataError', 'MultiTaskModel', 'TabularEncoder', 'load_checkpoint', 'parse_csv', 'read_csv', 'runtime_loss', 'save_checkpoint']
