"""Trains a runtime checkpoint on CSV files across processes with DistributedDataParallel.

    python3 -m ple_webgpu_torch.train --checkpoint IN --train FILE [--test FILE] --epochs N \\
        --world-size W --out OUT [--batch-size B] [--lr X] [--dtype float32|float64] ...

The checkpoint's own data encoder turns the CSV into inputs exactly as the runtime does. Every process
trains on its share of each global batch (a DistributedSampler over a shuffled order); the loss of each
task is the masked mean over the whole global batch (the label counts are summed across processes first),
so W processes take the same steps as one process with the same global batch. Rank 0 writes OUT atomically
after every epoch (an interrupted run leaves the previous file whole) and the per-epoch metrics beside it.
"""
import argparse
import json
import math
import os
import signal
import socket
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from .checkpoint import load_checkpoint, read_file, save_checkpoint
from .loss import objective, task_sums
from .metrics import task_metrics
from .optim import clip_gradients, set_learning_rate
from .safetensors import CheckpointError
from .spec import ConfigError
from .tabular import DataError, TabularEncoder, read_csv
from .targets import read_scaling, scale_labels, unscale_predictions


class UsageError(ValueError):
    pass


def learning_rate(base, t, total, warmup, decay):
    """The runtime's schedule (src/training/schedule.ts): linear warm-up, then constant, linear or cosine decay."""
    if t < warmup:
        return base * (t + 1) / warmup
    if decay == 'constant':
        return base
    progress = min(1.0, (t - warmup) / max(1, total - warmup))
    return base * (1 - progress) if decay == 'linear' else base * 0.5 * (1 + math.cos(math.pi * progress))


def parse_args(argv):
    p = argparse.ArgumentParser(prog='python3 -m ple_webgpu_torch.train', description=__doc__.split('\n\n')[0])
    p.add_argument('--checkpoint', required=True, help='a checkpoint written by the runtime (npm start) or by this package')
    p.add_argument('--train', required=True, help='training CSV, with the columns the checkpoint\'s encoder reads')
    p.add_argument('--test', help='test CSV, evaluated after every epoch')
    p.add_argument('--epochs', type=int, default=1, help='epochs to run (default 1)')
    p.add_argument('--world-size', type=int, default=1, help='processes (default 1)')
    p.add_argument('--out', required=True, help='output checkpoint (written atomically by rank 0)')
    p.add_argument('--metrics', help='per-epoch metrics JSON (default: OUT with .metrics.json)')
    p.add_argument('--batch-size', type=int, default=512, help='global batch size, split across processes (default 512)')
    p.add_argument('--lr', type=float, help='base learning rate (default: the checkpoint\'s optimizer lr)')
    p.add_argument('--warmup', type=int, default=0, help='warm-up steps')
    p.add_argument('--decay', choices=['constant', 'linear', 'cosine'], default='constant')
    p.add_argument('--clip', type=float, default=0, help='clip the global gradient norm (default off)')
    p.add_argument('--task-gamma', help='dynamic task weights w_k gamma_k^epoch, one gamma per task, comma-separated')
    p.add_argument('--seed', type=int, default=1, help='shuffling seed (epoch e shuffles with seed + e)')
    p.add_argument('--dtype', choices=['float32', 'float64'], default='float32')
    p.add_argument('--port', type=int, default=0, help='rendezvous port on 127.0.0.1 (default: a free one)')
    p.add_argument('--quiet', action='store_true')
    return p.parse_args(argv)


def prepare(args):
    """Everything checked before any process starts: the checkpoint, the data, the world size."""
    if args.epochs < 1:
        raise UsageError(f'--epochs must be >= 1, got {args.epochs}')
    if args.world_size < 1:
        raise UsageError(f'--world-size must be >= 1, got {args.world_size}')
    if args.batch_size < 1:
        raise UsageError(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.batch_size % args.world_size != 0:
        raise UsageError(f'--batch-size {args.batch_size} is not a multiple of --world-size {args.world_size}: every process takes an equal share of each global batch')
    data = read_file(args.checkpoint)
    ckpt = load_checkpoint(args.checkpoint, data=data)
    if 'data' not in ckpt.meta:
        raise UsageError(f'{args.checkpoint} has no data encoder (metadata "data"): train it once with the runtime on CSV input (npm start -- --data csv ...) so both sides encode the CSV alike')
    encoder = TabularEncoder(ckpt.meta['data'])
    config = ckpt.model.config
    if [t['name'] for t in encoder.tasks] != [t['name'] for t in config['tasks']] or len(encoder.dense_names) != config['inputDim']:
        raise UsageError(f'{args.checkpoint}: its data encoder (tasks {[t["name"] for t in encoder.tasks]}, {len(encoder.dense_names)} inputs) does not match its model (tasks {[t["name"] for t in config["tasks"]]}, {config["inputDim"]} inputs)')
    train = encoder.transform(read_csv(args.train))
    test = encoder.transform(read_csv(args.test)) if args.test else None
    # Regression targets train on the scale the checkpoint trained with (the runtime's CLI records it).
    scaling = read_scaling(ckpt.meta.get('training'), args.checkpoint)
    train['labels'] = scale_labels(train['labels'], config['tasks'], scaling)
    if train['rows'] < args.world_size:
        raise UsageError(f'{args.train} has {train["rows"]} rows, fewer than --world-size {args.world_size}: some process would have no data')
    try:
        gamma = [float(g) for g in args.task_gamma.split(',')] if args.task_gamma else None
    except ValueError:
        gamma = []
    if gamma is not None and (len(gamma) != len(config['tasks']) or not all(g > 0 for g in gamma)):
        raise UsageError(f'--task-gamma needs {len(config["tasks"])} positive numbers, got {args.task_gamma}')
    return data, ckpt, train, test, gamma


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def batch_tensors(split, rows, dtype, valid=None):
    x = torch.as_tensor(split['x'][rows], dtype=dtype)
    labels = torch.as_tensor(split['labels'][rows], dtype=dtype)
    mask = torch.as_tensor(split['mask'][rows], dtype=dtype)
    if valid is not None:
        mask = mask * torch.as_tensor(valid, dtype=dtype)[:, None]
    return x, torch.as_tensor(split['categorical'][rows]), labels, mask


def evaluate(model, split, tasks, dtype, scaling, chunk=4096):
    """Metrics on raw labels, with predictions in the targets' own units."""
    model.eval()
    with torch.no_grad():
        preds = [model.predict(*batch_tensors(split, np.arange(s, min(s + chunk, split['rows'])), dtype)[:2]) for s in range(0, split['rows'], chunk)]
    model.train()
    return task_metrics(tasks, unscale_predictions(torch.cat(preds).double().cpu().numpy(), tasks, scaling), split['labels'], split['mask'])


def worker(rank, args, data, train, test, gamma, port):
    # A terminated worker unwinds (so a half-written temporary file is removed) instead of dying at once.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    W = args.world_size
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // W))
    backend = 'nccl' if torch.cuda.is_available() and torch.cuda.device_count() >= W else 'gloo'
    device = torch.device('cuda', rank) if backend == 'nccl' else torch.device('cpu')
    dist.init_process_group(backend, init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=W)
    try:
        train_loop(rank, args, data, train, test, gamma, device)
    finally:
        dist.destroy_process_group()


def train_loop(rank, args, data, train, test, gamma, device):
    W, B = args.world_size, args.batch_size
    dtype = torch.float64 if args.dtype == 'float64' else torch.float32
    ckpt = load_checkpoint(args.checkpoint, dtype=dtype, data=data)
    model = ckpt.model.to(device)
    optimizer = ckpt.optimizer
    if device.type != 'cpu':  # the moments follow their parameters
        for st in optimizer.state.values():
            for k, v in st.items():
                if torch.is_tensor(v) and k != 'step':
                    st[k] = v.to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == 'cuda' else None)
    config = model.config
    tasks = config['tasks']
    base_weights = [t['weight'] for t in tasks]
    base_lr = args.lr if args.lr is not None else ckpt.optimizer_config['lr']
    N = train['rows']
    steps_per_epoch = math.ceil(N / B)
    total_steps = steps_per_epoch * args.epochs
    local = B // W
    training = ckpt.meta.get('training') if isinstance(ckpt.meta.get('training'), dict) else {}
    scaling = read_scaling(training)
    first_epoch = int(training.get('epoch', 0)) + 1
    history = list(training.get('history', [])) if isinstance(training.get('history'), list) else []
    step = ckpt.step
    metrics_path = args.metrics or (args.out[:-len('.safetensors')] if args.out.endswith('.safetensors') else args.out) + '.metrics.json'
    log = (lambda s: None) if rank != 0 or args.quiet else (lambda s: print(s, flush=True))
    log(f'rank 0 of {W} ({device.type}, {args.dtype}): {N} training rows, global batch {B} ({local} per process), {steps_per_epoch} steps per epoch')
    for e in range(args.epochs):
        epoch = first_epoch + e
        started = time.time()
        weights = [w * (gamma[k] ** (epoch - 1) if gamma else 1) for k, w in enumerate(base_weights)]
        sampler = DistributedSampler(range(N), num_replicas=W, rank=rank, shuffle=True, seed=args.seed, drop_last=False)
        sampler.set_epoch(epoch)
        order = np.fromiter(iter(sampler), dtype=np.int64)
        # The sampler pads the shuffled order to a multiple of W by repeating its start; rank r's i-th
        # index sits at position r + W i of the padded order, and positions >= N are masked out.
        valid = (rank + W * np.arange(len(order))) < N
        sums = np.zeros(len(tasks) + 2)  # total, each task's loss, gradient norm
        for s in range(steps_per_epoch):
            t = e * steps_per_epoch + s
            lr = learning_rate(base_lr, t, total_steps, args.warmup, args.decay)
            set_learning_rate(optimizer, lr)
            part = slice(s * local, (s + 1) * local)
            x, cat, labels, mask = (v.to(device) for v in batch_tensors(train, order[part], dtype, valid[part]))
            logits = ddp(x, cat)
            task_sum, count = task_sums(model, logits, labels, mask)
            totals = torch.cat([task_sum.detach(), count])
            dist.all_reduce(totals)  # global per-task loss sums and label counts
            K = len(tasks)
            global_counts = totals[K:]
            loss, _ = objective(model, task_sum, global_counts, weights, scale=W)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP averages the gradients over the W processes
            norm = clip_gradients(model, args.clip)
            optimizer.step()
            step += 1
            task_loss = torch.where(global_counts > 0, totals[:K] / torch.clamp(global_counts, min=1), torch.zeros_like(global_counts)).cpu().numpy()
            total = float(np.dot(weights, task_loss))
            if not math.isfinite(total) or not math.isfinite(norm):
                raise FloatingPointError(f'training stopped at step {step}: the {"loss" if not math.isfinite(total) else "gradient norm"} is not finite (lower the learning rate, clip gradients, or check the data)')
            sums += np.r_[total, task_loss, norm]
        report = {
            'epoch': epoch,
            'learningRate': lr,
            'taskWeights': weights,
            # The fields of the runtime's EpochReport, so its CLI and demo read this history too; test metrics
            # (MSE in the targets' units) under 'test'. Other training metadata (model family, targets) is kept.
            'train': {'loss': sums[0] / steps_per_epoch, 'taskLoss': list(sums[1:-1] / steps_per_epoch), 'gradNorm': sums[-1] / steps_per_epoch},
            'seconds': time.time() - started,
        }
        if rank == 0:
            if test is not None:
                report['test'] = evaluate(model, test, tasks, dtype, scaling)
            history.append(report)
            meta = {'optimizer': {**ckpt.optimizer_config, 'lr': base_lr}, 'step': step, 'training': {**training, 'epoch': epoch, 'history': history, 'seed': args.seed, 'worldSize': W, 'engine': f'pytorch {torch.__version__}'}, 'data': ckpt.meta['data']}
            save_checkpoint(args.out, model, optimizer, meta)
            with open(metrics_path, 'w') as f:
                json.dump({'command': 'python3 -m ple_webgpu_torch.train ' + ' '.join(sys.argv[1:]), 'epochs': history}, f, indent=1)
            log(format_report(report, tasks))
        dist.barrier()


def format_report(r, tasks):
    parts = [f'epoch {r["epoch"]}: train loss {r["train"]["loss"]:.4f}']
    for t in tasks:
        m = r.get('test', {}).get(t['name'])
        if m:
            parts.append(f'{t["name"]} test ' + (f'AUC {m["auc"]:.4f} log loss {m["logLoss"]:.4f}' if t['type'] == 'binary' else f'MSE {m["mse"]:.4f}'))
    return ', '.join(parts) + f' ({r["seconds"]:.1f} s)'


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        data, _, train, test, gamma = prepare(args)
    except (UsageError, CheckpointError, ConfigError, DataError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    port = args.port or free_port()
    if args.world_size == 1:
        worker(0, args, data, train, test, gamma, port)
    else:
        mp.spawn(worker, args=(args, data, train, test, gamma, port), nprocs=args.world_size, join=True)
    if not args.quiet:
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
