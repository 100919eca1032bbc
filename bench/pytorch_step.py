"""Times one PLE training step (forward, loss, backward, Adam) in native PyTorch on the CPU: the PyTorch peer
of the runtime's step in `npm run bench` (bench/pytorch.ts runs it with the runtime's own initial
parameters and batch, so the step-1 losses agree).

    PYTHONPATH=python python3 bench/pytorch_step.py [--checkpoint FILE --batch FILE.json] [--warmup N] [--steps N]

Without --checkpoint it builds bench-small (PLE, batch 512, 128 inputs, 2 levels of 2 task + 2 shared experts
of width 64, towers [32], 2 binary tasks) with torch's random initialisation and a random batch.
Prints one JSON object (the fields of bench/common.ts StepTiming)."""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from ple_webgpu_torch import MultiTaskModel, load_checkpoint, runtime_loss  # noqa: E402
from ple_webgpu_torch.optim import make_optimizer, resolve_optimizer  # noqa: E402

BENCH_SMALL = {
    'inputDim': 128,
    'tasks': [{'name': 'task0', 'type': 'binary'}, {'name': 'task1', 'type': 'binary'}],
    'levels': [{'taskExperts': 2, 'sharedExperts': 2, 'expertWidths': [64]}] * 2,
    'towerWidths': [32],
}


def blas():
    """The BLAS library this process loaded (Debian's torch uses the system's libblas.so.3 alternative)."""
    with open('/proc/self/maps') as f:
        libs = {line.split()[-1] for line in f if 'blas' in line.lower() and '/' in line}
    return ', '.join(sorted(os.path.basename(os.path.dirname(p)) + '/' + os.path.basename(p) for p in libs)) or 'unknown'


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--checkpoint')
    p.add_argument('--batch', help='JSON {rows, x, labels}, flat row-major')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--loss-step', type=int, default=0, help='the step (1-based, warm-up included) whose loss lossAt reports (default: the last)')
    p.add_argument('--threads', type=int, default=os.cpu_count(), help='torch intra-op threads (default: every CPU)')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.checkpoint:
        ckpt = load_checkpoint(args.checkpoint)
        model, optimizer = ckpt.model, ckpt.optimizer
        with open(args.batch) as f:
            b = json.load(f)
        x = torch.tensor(b['x'], dtype=torch.float32).view(b['rows'], -1)
        labels = torch.tensor(b['labels'], dtype=torch.float32).view(b['rows'], -1)
    else:
        torch.manual_seed(1)
        model = MultiTaskModel(BENCH_SMALL)
        model.reset_parameters()
        optimizer = make_optimizer(model, resolve_optimizer({'kind': 'adam', 'lr': 1e-3}))
        x = torch.rand(512, 128) * 2 - 1
        labels = (x[:, :2] + 0.3 * torch.randn(512, 2) > 0).float()
    mask = torch.ones_like(labels)
    create_ms = (time.perf_counter() - started) * 1000

    def step():
        loss, _, total = runtime_loss(model, model(x), labels, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return total

    loss_step = args.loss_step or args.warmup + args.steps
    if not 1 <= loss_step <= args.warmup + args.steps:
        raise SystemExit(f'--loss-step must be a step of the run (1..{args.warmup + args.steps}), got {loss_step}')
    warmup_ms, first_loss, loss_at = [], None, None
    for i in range(args.warmup):
        t = time.perf_counter()
        loss = step()
        first_loss = loss if i == 0 else first_loss
        loss_at = loss if i + 1 == loss_step else loss_at
        warmup_ms.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    for i in range(args.steps):
        last_loss = step()
        loss_at = last_loss if args.warmup + i + 1 == loss_step else loss_at
    total_ms = (time.perf_counter() - t) * 1000
    print(json.dumps({
        'system': 'pytorch-cpu', 'config': 'bench-small', 'createMs': create_ms, 'warmupMs': warmup_ms, 'steps': args.steps,
        'totalMs': total_ms, 'msPerStep': total_ms / args.steps, 'stepsPerSec': 1000 * args.steps / total_ms,
        'firstLoss': first_loss, 'lastLoss': last_loss, 'lossAt': {'step': loss_step, 'loss': loss_at},
        'threads': torch.get_num_threads(),
        'note': f'PyTorch {torch.__version__} on the CPU, float32, {torch.get_num_threads()} thread{"s" if torch.get_num_threads() != 1 else ""}, BLAS {blas()}',
    }))


if __name__ == '__main__':
    main()
