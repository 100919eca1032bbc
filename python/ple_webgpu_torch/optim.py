"""The runtime's optimizers (src/reference/optimizer.ts) as torch.optim ones, with the checkpoint's moments
mapped into their state: optimizer.m1.<name> is Adam's exp_avg or SGD's momentum_buffer, optimizer.m2.<name>
Adam's exp_avg_sq, metadata step Adam's step. Both sides follow PyTorch's update rules: Adam adds
weight_decay * p to the gradient, AdamW decays the parameter by lr * weight_decay, SGD has no dampening.
Gradient clipping scales every gradient by max_norm / norm when the global norm exceeds max_norm."""
import math

import torch

from .spec import ConfigError


def resolve_optimizer(o):
    """Validates the checkpoint's optimizer JSON (a port of resolveOptimizer in src/config.ts)."""
    if not isinstance(o, dict) or o.get('kind') not in ('sgd', 'adam', 'adamw'):
        raise ConfigError('optimizer.kind', f'must be "sgd", "adam" or "adamw", got {o.get("kind") if isinstance(o, dict) else o!r}')

    def num(key, default, ok, rule):
        v = o.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
            raise ConfigError(f'optimizer.{key}', f'must be {rule}, got {v!r}')
        return float(v)

    lr = num('lr', None, lambda x: x >= 0, 'a finite number >= 0')
    wd = num('weightDecay', 0, lambda x: x >= 0, 'a finite number >= 0')
    if o['kind'] == 'sgd':
        return {'kind': 'sgd', 'lr': lr, 'beta1': 0, 'beta2': 0, 'eps': 0, 'weightDecay': wd, 'momentum': num('momentum', 0, lambda x: 0 <= x < 1, 'in [0, 1)')}
    return {
        'kind': o['kind'], 'lr': lr,
        'beta1': num('beta1', 0.9, lambda x: 0 <= x < 1, 'in [0, 1)'),
        'beta2': num('beta2', 0.999, lambda x: 0 <= x < 1, 'in [0, 1)'),
        'eps': num('eps', 1e-8, lambda x: x > 0, 'a finite number > 0'),
        'weightDecay': wd, 'momentum': 0,
    }


def make_optimizer(model, o):
    """A torch.optim optimizer over the model's parameters (in the runtime's order) for a resolved config."""
    params = [p for _, p in model.named_tensors()]
    if o['kind'] == 'sgd':
        return torch.optim.SGD(params, lr=o['lr'], momentum=o['momentum'], weight_decay=o['weightDecay'])
    kind = torch.optim.Adam if o['kind'] == 'adam' else torch.optim.AdamW
    return kind(params, lr=o['lr'], betas=(o['beta1'], o['beta2']), eps=o['eps'], weight_decay=o['weightDecay'])


def load_state(model, optimizer, m1, m2, step):
    """Puts the checkpoint's moments and step count into the optimizer's state."""
    for name, p in model.named_tensors():
        a = torch.as_tensor(m1[name], dtype=p.dtype).reshape(p.shape).clone()
        b = torch.as_tensor(m2[name], dtype=p.dtype).reshape(p.shape).clone()
        if isinstance(optimizer, torch.optim.SGD):
            # Before the first step torch starts the buffer from the gradient, which equals 0 * momentum + g.
            optimizer.state[p] = {'momentum_buffer': a} if step > 0 else {}
        else:
            optimizer.state[p] = {'step': torch.tensor(float(step)), 'exp_avg': a, 'exp_avg_sq': b}


def read_state(model, optimizer):
    """{name: (m1, m2)} as float32 numpy arrays, zeros where the optimizer keeps no such state."""
    out = {}
    for name, p in model.named_tensors():
        st = optimizer.state.get(p, {})
        zeros = torch.zeros_like(p)
        a = st.get('exp_avg', st.get('momentum_buffer'))
        b = st.get('exp_avg_sq')
        out[name] = tuple((t if t is not None else zeros).detach().to(torch.float32).cpu().numpy() for t in (a, b))
    return out


def clip_gradients(model, max_norm):
    """The runtime's clipping (src/reference/grad_norm.ts); returns the norm before clipping."""
    grads = [p.grad for _, p in model.named_tensors() if p.grad is not None]
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).item()
    if max_norm > 0 and norm > max_norm:
        for g in grads:
            g.mul_(max_norm / norm)
    return norm


def set_learning_rate(optimizer, lr):
    for group in optimizer.param_groups:
        group['lr'] = lr
