"""The runtime's model as a torch.nn.Module: PLE levels (CGC, MMoE, shared-bottom and single-task are
special cases), embedding tables, towers and the optional learned log-variances. Parameters keep the
runtime's names and layouts (see src/spec.ts and src/checkpoint/checkpoint.ts), so a checkpoint maps
onto the module one tensor to one parameter; the maths follows src/reference/model.ts."""
import math

import torch
from torch import nn

from . import spec as S


def _key(name):
    return name.replace('.', '__')  # module attribute names may not contain dots


class MultiTaskModel(nn.Module):
    def __init__(self, config, dtype=torch.float32):
        super().__init__()
        self.config = S.resolve_config(config)
        self.spec = S.build_spec(self.config)
        self.num_tasks = len(self.config['tasks'])
        self.params = nn.ParameterDict({_key(p['name']): nn.Parameter(torch.zeros(p['shape'], dtype=dtype)) for p in self.spec['params']})

    @property
    def param_names(self):
        return [p['name'] for p in self.spec['params']]

    def param(self, name):
        return self.params[_key(name)]

    def named_tensors(self):
        """(runtime name, parameter) in the runtime's order."""
        return [(n, self.param(n)) for n in self.param_names]

    def reset_parameters(self, generator=None):
        """He-uniform for ReLU layers, Glorot-uniform otherwise, zero biases and log-variances, embeddings in
        [-0.05, 0.05]: the runtime's scheme (src/init.ts), drawn from torch's generator."""
        with torch.no_grad():
            for p in self.spec['params']:
                t = self.param(p['name'])
                if p['kind'] == 'embedding':
                    bound = 0.05
                elif p['kind'] == 'weight':
                    bound = math.sqrt(6 / p['fanIn']) if p['relu'] else math.sqrt(6 / (p['fanIn'] + p['fanOut']))
                else:
                    t.zero_()
                    continue
                t.copy_(torch.rand(t.shape, generator=generator, dtype=torch.float64) * 2 * bound - bound)

    def forward(self, x, categorical=None, with_gates=False):
        """x [B, inputDim], categorical [B, tables] (long). Returns logits [B, tasks] and, with_gates, each
        level's gate weights [B, gateColumns] (the runtime's Trainer.infer layout)."""
        rows = x.shape[0]
        parts = [x]
        for t, e in enumerate(self.config['embeddings']):
            parts.append(self.param(S.embedding(e['name']))[categorical[:, t]])
        h = torch.cat(parts, dim=1) if len(parts) > 1 else x
        K = self.num_tasks
        inputs = [h] * (K + 1)
        gate_weights = []
        for level in self.spec['levels']:
            j = level['index']
            experts = []  # [experts of the group, B, d] per group, in level order
            for gi, g in enumerate(level['groups']):
                n = g['experts']
                if n == 0:
                    continue
                z = None
                for l, width in enumerate(level['widths']):
                    W = self.param(S.expert_weight(j, g['name'], l))
                    b = self.param(S.expert_bias(j, g['name'], l))
                    if l == 0:  # [in, n*width]: expert e owns columns e*width .. (e+1)*width
                        z = torch.relu(inputs[gi] @ W + b).view(rows, n, width).transpose(0, 1)
                    else:  # [n, in, width]
                        z = torch.relu(torch.bmm(z, W) + b.view(n, 1, width))
                experts.append(z)
            E = torch.cat(experts, dim=0)
            outputs, weights = [], []
            for gate in level['gates']:
                members = gate['members']
                if gate['hasParams']:
                    logits = inputs[gate['group']] @ self.param(S.gate_weight(j, gate['name']))
                    if self.config['gateBias']:
                        logits = logits + self.param(S.gate_bias(j, gate['name']))
                    w = torch.softmax(logits, dim=1)
                    outputs.append(torch.einsum('bn,nbd->bd', w, E[members]))
                else:  # a gate over one expert is the identity
                    w = torch.ones(rows, 1, dtype=x.dtype, device=x.device)
                    outputs.append(E[members[0]])
                weights.append(w)
            gate_weights.append(torch.cat(weights, dim=1))
            inputs = outputs
        logits = []
        last = len(self.spec['towerDims']) - 1
        for k in range(K):
            z = inputs[k]
            for l in range(last + 1):
                z = z @ self.param(S.tower_weight(k, l)) + self.param(S.tower_bias(k, l))
                if l < last:
                    z = torch.relu(z)
            logits.append(z[:, 0])
        out = torch.stack(logits, dim=1)
        return (out, gate_weights) if with_gates else out

    def predict(self, x, categorical=None):
        """Probabilities for binary tasks, values for regression tasks, [B, tasks]."""
        z = self.forward(x, categorical)
        binary = torch.tensor([t['type'] == 'binary' for t in self.config['tasks']], device=z.device)
        return torch.where(binary, torch.sigmoid(z), z)
