"""A checkpoint's model config, validated, and the topology derived from it: groups, gates and the named
parameter tensors in the runtime's order. A port of src/config.ts (resolveConfig) and src/spec.ts
(buildSpec); the conventions are documented there."""
import math

KNOWN_FIELDS = ('inputDim', 'embeddings', 'tasks', 'levels', 'towerWidths', 'gateBias', 'uncertaintyWeighting')


class ConfigError(ValueError):
    """A config this package cannot build; `field` is the path of the offending field."""

    def __init__(self, field, problem):
        super().__init__(f'config.{field}: {problem}')
        self.field = field


def _int(v, field, low):
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ConfigError(field, f'must be an integer >= {low}, got {v!r}')
    return v


def _widths(v, field, allow_empty):
    if not isinstance(v, list) or (not allow_empty and not v):
        raise ConfigError(field, f'must be a list of widths{"" if allow_empty else " (at least one)"}, got {v!r}')
    return [_int(w, f'{field}[{i}]', 1) for i, w in enumerate(v)]


def _bool(v, field):
    if not isinstance(v, bool):
        raise ConfigError(field, f'must be true or false, got {v!r}')
    return v


def resolve_config(config):
    """Validates a model config (the JSON a checkpoint stores) and fills in defaults, like resolveConfig."""
    if not isinstance(config, dict):
        raise ConfigError('config', 'must be a JSON object')
    for key in config:
        if key not in KNOWN_FIELDS:
            raise ConfigError(key, f'unknown field; this package builds models from {", ".join(KNOWN_FIELDS)}')
    embeddings = []
    for i, e in enumerate(config.get('embeddings') or []):
        f = f'embeddings[{i}]'
        if not isinstance(e, dict) or not isinstance(e.get('name'), str) or not e['name']:
            raise ConfigError(f'{f}.name', 'must be a non-empty string')
        if any(x['name'] == e['name'] for x in embeddings):
            raise ConfigError(f'{f}.name', f'duplicate embedding name {e["name"]!r}')
        embeddings.append({'name': e['name'], 'vocabulary': _int(e.get('vocabulary'), f'{f}.vocabulary', 1), 'dim': _int(e.get('dim'), f'{f}.dim', 1)})
    input_dim = _int(config.get('inputDim'), 'inputDim', 0 if embeddings else 1)
    tasks = config.get('tasks')
    if not isinstance(tasks, list) or not tasks:
        raise ConfigError('tasks', 'at least one task is required')
    resolved_tasks = []
    for k, t in enumerate(tasks):
        f = f'tasks[{k}]'
        if not isinstance(t, dict) or not isinstance(t.get('name'), str) or not t['name']:
            raise ConfigError(f'{f}.name', 'must be a non-empty string')
        if any(x['name'] == t['name'] for x in resolved_tasks):
            raise ConfigError(f'{f}.name', f'duplicate task name {t["name"]!r}')
        if t.get('type') not in ('binary', 'regression'):
            raise ConfigError(f'{f}.type', f'must be "binary" or "regression", got {t.get("type")!r}')
        weight = t.get('weight', 1)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ConfigError(f'{f}.weight', f'must be a finite number >= 0, got {weight!r}')
        resolved_tasks.append({'name': t['name'], 'type': t['type'], 'weight': weight})
    K = len(resolved_tasks)
    levels = config.get('levels')
    if not isinstance(levels, list) or not levels:
        raise ConfigError('levels', 'at least one level is required')
    resolved_levels = []
    for j, level in enumerate(levels):
        f = f'levels[{j}]'
        if not isinstance(level, dict):
            raise ConfigError(f, 'must be an object')
        te = level.get('taskExperts')
        if isinstance(te, list):
            if len(te) != K:
                raise ConfigError(f'{f}.taskExperts', f'has {len(te)} entries but there are {K} tasks')
            task_experts = [_int(m, f'{f}.taskExperts[{k}]', 0) for k, m in enumerate(te)]
        else:
            task_experts = [_int(te, f'{f}.taskExperts', 0)] * K
        shared = _int(level.get('sharedExperts'), f'{f}.sharedExperts', 0)
        widths = _widths(level.get('expertWidths'), f'{f}.expertWidths', False)
        for k, m in enumerate(task_experts):
            if m + shared == 0:
                raise ConfigError(f'{f}.taskExperts', f'the gate of task {resolved_tasks[k]["name"]!r} has no experts')
        resolved_levels.append({'taskExperts': task_experts, 'sharedExperts': shared, 'expertWidths': widths})
    return {
        'inputDim': input_dim,
        'embeddings': embeddings,
        'tasks': resolved_tasks,
        'levels': resolved_levels,
        'towerWidths': _widths(config.get('towerWidths', []), 'towerWidths', True),
        'gateBias': _bool(config.get('gateBias', False), 'gateBias'),
        'uncertaintyWeighting': _bool(config.get('uncertaintyWeighting', False), 'uncertaintyWeighting'),
    }


def expert_weight(level, group, layer):
    return f'level{level}.{group}.experts.layer{layer}.weight'


def expert_bias(level, group, layer):
    return f'level{level}.{group}.experts.layer{layer}.bias'


def gate_weight(level, gate):
    return f'level{level}.{gate}.gate.weight'


def gate_bias(level, gate):
    return f'level{level}.{gate}.gate.bias'


def tower_weight(task, layer):
    return f'tower.task{task}.layer{layer}.weight'


def tower_bias(task, layer):
    return f'tower.task{task}.layer{layer}.bias'


def embedding(name):
    return f'embedding.{name}'


LOG_VARIANCE = 'loss.log_variance'


def build_spec(config):
    """The topology of a resolved config: levels (groups, gates) and params [(name, shape, kind, relu, fan_in, fan_out)]."""
    K = len(config['tasks'])
    params = []

    def add(name, shape, kind, relu, fan_in, fan_out):
        params.append({'name': name, 'shape': shape, 'kind': kind, 'relu': relu, 'fanIn': fan_in, 'fanOut': fan_out})

    for e in config['embeddings']:
        add(embedding(e['name']), [e['vocabulary'], e['dim']], 'embedding', False, e['dim'], e['dim'])
    in_dim = config['inputDim'] + sum(e['dim'] for e in config['embeddings'])
    model_input_dim = in_dim
    levels = []
    for j, lc in enumerate(config['levels']):
        last = j == len(config['levels']) - 1
        groups, first = [], 0
        for k in range(K):
            groups.append({'name': f'task{k}', 'experts': lc['taskExperts'][k], 'first': first})
            first += lc['taskExperts'][k]
        groups.append({'name': 'shared', 'experts': lc['sharedExperts'], 'first': first})
        num_experts = first + lc['sharedExperts']
        shared = groups[K]
        gates, column = [], 0
        for k in range(K):
            members = list(range(groups[k]['first'], groups[k]['first'] + groups[k]['experts'])) + list(range(shared['first'], shared['first'] + shared['experts']))
            gates.append({'name': f'task{k}', 'group': k, 'members': members, 'hasParams': len(members) > 1, 'column': column})
            column += len(members)
        if not last:
            gates.append({'name': 'shared', 'group': K, 'members': list(range(num_experts)), 'hasParams': num_experts > 1, 'column': column})
            column += num_experts
        widths = lc['expertWidths']
        with_experts = [g for g in groups if g['experts'] > 0]
        for l, h in enumerate(widths):
            hin = in_dim if l == 0 else widths[l - 1]
            for g in with_experts:
                add(expert_weight(j, g['name'], l), [hin, g['experts'] * h] if l == 0 else [g['experts'], hin, h], 'weight', True, hin, h)
            for g in with_experts:
                add(expert_bias(j, g['name'], l), [g['experts'] * h], 'bias', True, hin, h)
        with_params = [g for g in gates if g['hasParams']]
        for g in with_params:
            add(gate_weight(j, g['name']), [in_dim, len(g['members'])], 'weight', False, in_dim, len(g['members']))
        if config['gateBias']:
            for g in with_params:
                add(gate_bias(j, g['name']), [len(g['members'])], 'bias', False, in_dim, len(g['members']))
        levels.append({'index': j, 'inDim': in_dim, 'widths': widths, 'groups': groups, 'numExperts': num_experts, 'gates': gates, 'gateColumns': column})
        in_dim = widths[-1]
    tower_dims = config['towerWidths'] + [1]
    for l, t in enumerate(tower_dims):
        tin = in_dim if l == 0 else tower_dims[l - 1]
        relu = l < len(tower_dims) - 1
        for k in range(K):
            add(tower_weight(k, l), [tin, t], 'weight', relu, tin, t)
        for k in range(K):
            add(tower_bias(k, l), [t], 'bias', relu, tin, t)
    if config['uncertaintyWeighting']:
        add(LOG_VARIANCE, [K], 'log_variance', False, 1, 1)
    return {'config': config, 'modelInputDim': model_input_dim, 'levels': levels, 'towerDims': tower_dims, 'towerIn': in_dim, 'params': params}
