"""Evaluation metrics as the runtime computes them (src/metrics.ts): ROC AUC by the rank-sum formula with
tied scores at their average rank, log loss with probabilities clipped to [1e-7, 1 - 1e-7], MSE."""
import math

import numpy as np


def auc(scores, labels):
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if np.isnan(scores).any():
        return math.nan
    order = np.argsort(scores, kind='stable')
    s = scores[order]
    # Average 1-based rank of each run of tied scores.
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    ranks = np.repeat((starts + 1 + ends) / 2, ends - starts)
    positive = labels[order] >= 0.5
    P, N = int(positive.sum()), int((~positive).sum())
    if P == 0 or N == 0:
        return math.nan
    return float((ranks[positive].sum() - P * (P + 1) / 2) / (P * N))


def log_loss(probs, labels):
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(labels, dtype=np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()) if len(p) else math.nan


def mse(pred, target):
    d = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return float((d * d).mean()) if len(d) else math.nan


def task_metrics(tasks, predictions, labels, mask):
    """{task name: {'auc', 'logLoss'} or {'mse'}, plus 'count'}; predictions [rows, tasks]."""
    out = {}
    for k, t in enumerate(tasks):
        keep = mask[:, k] != 0
        p, y = predictions[keep, k], labels[keep, k]
        out[t['name']] = {'auc': auc(p, y), 'logLoss': log_loss(p, y), 'count': int(keep.sum())} if t['type'] == 'binary' else {'mse': mse(p, y), 'count': int(keep.sum())}
    return out
