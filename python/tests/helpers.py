"""Test helpers: a small CSV with every kind of column, a checkpoint holding a data encoder for it, and
running the package's command-line entry points."""
import json
import os
import subprocess
import sys

import numpy as np
import torch

from ple_webgpu_torch import MultiTaskModel, TabularEncoder, save_checkpoint
from ple_webgpu_torch.optim import make_optimizer, resolve_optimizer

PYTHON_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CITIES = ['paris', 'lyon', 'nice', 'lille']
DEVICES = ['phone', 'desktop', 'tablet']


def write_csv(path, rows, seed=0):
    """Columns: age (numeric, some missing), spend (log1p), city (embedding), device (one-hot), clicked
    (binary yes/no, some missing) and dwell (regression)."""
    rng = np.random.default_rng(seed)
    lines = ['age,spend,city,device,clicked,dwell']
    for _ in range(rows):
        age = '?' if rng.random() < 0.1 else f'{rng.integers(18, 80)}'
        spend = f'{rng.exponential(30):.2f}'
        city = CITIES[rng.integers(len(CITIES))]
        device = DEVICES[rng.integers(len(DEVICES))]
        clicked = '?' if rng.random() < 0.15 else ('yes' if rng.random() < 0.4 else 'no')
        dwell = f'{rng.normal(2, 1):.3f}'
        lines.append(f'{age},{spend},{city},{device},{clicked},{dwell}')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


ENCODER = {
    'version': 1,
    'missing': ['?', '', 'NA'],
    'tasks': [
        {'name': 'click', 'column': 'clicked', 'type': 'binary', 'positive': ['yes']},
        {'name': 'dwell', 'column': 'dwell', 'type': 'regression'},
    ],
    'numeric': [
        {'column': 'age', 'log1p': False, 'mean': 48.5, 'std': 17.3, 'hasMissing': True},
        {'column': 'spend', 'log1p': True, 'mean': 3.1, 'std': 1.1, 'hasMissing': False},
    ],
    'categorical': [
        {'column': 'city', 'encoding': 'embedding', 'vocabulary': CITIES[:3], 'dim': 3},
        {'column': 'device', 'encoding': 'onehot', 'vocabulary': DEVICES, 'dim': 3},
    ],
}


# The regression target's scaling, as the runtime's CLI records it in a checkpoint's training metadata.
TARGETS = {'version': 1, 'tasks': [{'name': 'dwell', 'mean': 2.0, 'std': 1.5}]}


def model_config(levels=2):
    encoder = TabularEncoder(ENCODER)
    return {
        'inputDim': len(encoder.dense_names),
        'embeddings': [{'name': e['column'], 'vocabulary': e['vocabulary'], 'dim': e['dim']} for e in encoder.embeddings],
        'tasks': [{'name': 'click', 'type': 'binary', 'weight': 1}, {'name': 'dwell', 'type': 'regression', 'weight': 0.5}],
        'levels': [{'taskExperts': [1, 1], 'sharedExperts': 2, 'expertWidths': [8]} for _ in range(levels)],
        'towerWidths': [4],
        'gateBias': True,
        'uncertaintyWeighting': False,
    }


def write_checkpoint(path, config=None, optimizer=None, seed=0, data=ENCODER):
    torch.manual_seed(seed)
    model = MultiTaskModel(config or model_config())
    model.reset_parameters()
    opt = resolve_optimizer(optimizer or {'kind': 'adam', 'lr': 0.01})
    meta = {'optimizer': opt, 'step': 0, 'training': {'epoch': 0, 'history': [], 'targets': TARGETS}}
    if data is not None:
        meta['data'] = data
    save_checkpoint(path, model, make_optimizer(model, opt), meta)


def run_module(module, *args, timeout=300):
    env = {**os.environ, 'PYTHONPATH': PYTHON_ROOT}
    return subprocess.run([sys.executable, '-m', f'ple_webgpu_torch.{module}', *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


def read_json(path):
    with open(path) as f:
        return json.load(f)
