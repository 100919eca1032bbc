"""The runtime's training loss (src/reference/model.ts referenceLoss, shaders/task_loss.wgsl): per task the
masked mean of cross-entropy on the logit (binary) or squared error (regression), PLE eq. 9, weighted by
w_k (static, or w_k0 * gamma_k^epoch), optionally with uncertainty weighting:
    total = sum_k w_k L_k                               (plain)
    total = sum_k w_k (exp(-s_k) L_k + s_k)             (uncertainty weighting, s_k = loss.log_variance)
"""
import torch


def sample_loss(is_binary, z, y):
    """Per-sample loss [B, K]: stable cross-entropy on logits where is_binary, else squared error.
    torch's form max(z, 0) - z y + log1p(exp(-|z|)) has the gradient sigmoid(z) - y everywhere, z = 0 included
    (a logit of exactly 0 is common: zero biases behind dead ReLUs); composing clamp and abs would not."""
    ce = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction='none')
    return torch.where(is_binary, ce, (z - y) ** 2)


def task_sums(model, logits, labels, mask):
    """Per task: the sum of the per-sample losses of labelled samples, and their count."""
    is_binary = torch.tensor([t['type'] == 'binary' for t in model.config['tasks']], device=logits.device)
    present = mask > 0
    y = torch.where(present, labels, torch.zeros_like(labels))  # a missing label may be NaN
    per_sample = sample_loss(is_binary, logits, y)
    return torch.where(present, per_sample, torch.zeros_like(per_sample)).sum(0), present.sum(0).to(logits.dtype)


def objective(model, sums, counts, weights, scale=1.0):
    """(what to minimise, per-task mean loss L_k [K]). counts may be global counts over several processes,
    with scale = world size so that DDP's gradient averaging gives the global masked mean exactly."""
    weights = torch.as_tensor(weights, dtype=sums.dtype, device=sums.device)
    safe = torch.clamp(counts, min=1)
    task_loss = torch.where(counts > 0, sums / safe, torch.zeros_like(sums))
    if model.config['uncertaintyWeighting']:
        s = model.param('loss.log_variance')
        total = (weights * (torch.exp(-s) * task_loss * scale + s)).sum()
    else:
        total = (weights * task_loss).sum() * scale
    return total, task_loss


def runtime_loss(model, logits, labels, mask, weights=None):
    """The loss of one batch as the runtime computes it: (objective, L_k [K], sum_k w_k L_k)."""
    if weights is None:
        weights = [t['weight'] for t in model.config['tasks']]
    sums, counts = task_sums(model, logits, labels, mask)
    total, task_loss = objective(model, sums, counts, weights)
    return total, task_loss, float(sum(w * l for w, l in zip(weights, task_loss.tolist())))
