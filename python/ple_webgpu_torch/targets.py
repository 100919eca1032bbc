"""Regression targets standardised with training statistics, as the runtime's CLI trains them
(src/data/targets.ts): the checkpoint's training metadata holds the scaling ("targets": {"version": 1,
"tasks": [{"name", "mean", "std"}]}); training sees (y - mean) / std, predictions and MSE go back to the
target's units. A checkpoint without it trains on the raw targets."""
import math

import numpy as np

from .safetensors import CheckpointError


def read_scaling(training, source='checkpoint'):
    """{task name: (mean, std)} from a checkpoint's training metadata (empty when it records none)."""
    s = training.get('targets') if isinstance(training, dict) else None
    if s is None:
        return {}
    ok = isinstance(s, dict) and s.get('version') == 1 and isinstance(s.get('tasks'), list) and all(
        isinstance(t, dict) and isinstance(t.get('name'), str) and all(isinstance(t.get(k), (int, float)) and math.isfinite(t[k]) for k in ('mean', 'std')) and t['std'] > 0
        for t in s['tasks'])
    if not ok:
        raise CheckpointError(source, '"targets" is not a version 1 target scaling ({ version: 1, tasks: [{ name, mean, std > 0 }] })')
    return {t['name']: (float(t['mean']), float(t['std'])) for t in s['tasks']}


def scale_labels(labels, tasks, scaling):
    """labels [rows, tasks] with each scaled regression task standardised (a copy; NaN stays NaN)."""
    out = labels.astype(np.float64).copy()
    for k, t in enumerate(tasks):
        if t['name'] in scaling:
            mean, std = scaling[t['name']]
            out[:, k] = (out[:, k] - mean) / std
    return out.astype(np.float32)


def unscale_predictions(predictions, tasks, scaling):
    """predictions [rows, tasks] back in the targets' own units."""
    out = np.array(predictions, dtype=np.float64)
    for k, t in enumerate(tasks):
        if t['name'] in scaling:
            mean, std = scaling[t['name']]
            out[:, k] = out[:, k] * std + mean
    return out
