"""Replays given training steps on a checkpoint and reports what the runtime's Trainer reports, to compare
the two engines step by step (test/pytorch-parity.test.ts drives it).

    python3 -m ple_webgpu_torch.replay REQUEST.json RESULT.json

REQUEST: {"checkpoint": FILE, "dtype": "float64" | "float32", "out": FILE (optional: the checkpoint after
the steps), "steps": [{"rows", "x", "labels", "mask", "categorical", "lr", "weights", "clip"}],
"predict": {"rows", "x", "categorical"} or {"csv": FILE} (optional: predictions on these rows, or on a CSV
encoded with the checkpoint's data encoder)}; arrays are flat and row-major, as in a runtime Batch. A list
of requests gives a list of results.
RESULT: {"steps": [{"taskLoss", "total", "gradNorm"}], "params", "m1", "m2" (by name, after the steps),
"predictions" [rows x tasks], "gates" (per level, [rows x gateColumns]), and for a CSV the encoded "x",
"categorical", "labels" and "mask"}.
"""
import json
import sys

import numpy as np
import torch

from .checkpoint import load_checkpoint, save_checkpoint
from .loss import runtime_loss
from .optim import clip_gradients, read_state, set_learning_rate
from .tabular import TabularEncoder, read_csv


def _array(values, rows, dtype):
    return torch.as_tensor(np.array(values, dtype=np.float64).reshape(rows, -1), dtype=dtype)  # null (NaN) -> nan


def replay(request):
    dtype = torch.float64 if request.get('dtype') == 'float64' else torch.float32
    ckpt = load_checkpoint(request['checkpoint'], dtype=dtype)
    model, optimizer = ckpt.model, ckpt.optimizer
    E = len(model.config['embeddings'])
    categorical = lambda b: torch.as_tensor(np.array(b.get('categorical', []), dtype=np.int64).reshape(b['rows'], E))
    steps = []
    step = ckpt.step
    for b in request.get('steps', []):
        x, labels, mask = (_array(b[k], b['rows'], dtype) for k in ('x', 'labels', 'mask'))
        set_learning_rate(optimizer, b.get('lr', ckpt.optimizer_config['lr']))
        loss, task_loss, total = runtime_loss(model, model(x, categorical(b)), labels, mask, b.get('weights'))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = clip_gradients(model, b.get('clip', 0))
        optimizer.step()
        step += 1
        steps.append({'taskLoss': task_loss.tolist(), 'total': total, 'gradNorm': norm})
    state = read_state(model, optimizer)
    result = {
        'steps': steps,
        'params': {n: p.detach().double().flatten().tolist() for n, p in model.named_tensors()},
        'm1': {n: state[n][0].flatten().tolist() for n in state},
        'm2': {n: state[n][1].flatten().tolist() for n in state},
    }
    if 'predict' in request:
        p = request['predict']
        if 'csv' in p:
            d = TabularEncoder(ckpt.meta['data']).transform(read_csv(p['csv']))
            p = {'rows': d['rows'], 'x': d['x'].astype(np.float64), 'categorical': d['categorical']}
            result.update({k: np.where(np.isnan(d[k]), None, d[k]).flatten().tolist() if k == 'labels' else d[k].flatten().tolist() for k in ('x', 'categorical', 'labels', 'mask')})
        with torch.no_grad():
            x = _array(p['x'], p['rows'], dtype)
            logits, gates = model(x, categorical(p), with_gates=True)
            result['predictions'] = model.predict(x, categorical(p)).double().flatten().tolist()
            result['gates'] = [g.double().flatten().tolist() for g in gates]
    if request.get('out'):
        save_checkpoint(request['out'], model, optimizer, {**{k: v for k, v in ckpt.meta.items() if k not in ('format', 'config')}, 'optimizer': ckpt.optimizer_config, 'step': step})
    return result


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        request = json.load(f)
    with open(argv[1], 'w') as f:
        json.dump([replay(r) for r in request] if isinstance(request, list) else replay(request), f)
    return 0


if __name__ == '__main__':
    sys.exit(main())
