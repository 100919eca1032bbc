/** Configuration validation, presets and bad batches: errors name the offending field. */
import { describe, expect, it } from 'vitest';
import { ConfigError, cgc, mmoe, ple, resolveConfig, resolveOptimizer, sharedBottom, singleTask, type ModelConfig } from '../src/config.js';
import { buildSpec, parameterCount } from '../src/spec.js';
import { thrownBy } from './helpers.js';

const base = (): ModelConfig => ({
  inputDim: 4,
  tasks: [
    { name: 'a', type: 'binary' },
    { name: 'b', type: 'regression' },
  ],
  levels: [{ taskExperts: 1, sharedExperts: 1, expertWidths: [3] }],
  towerWidths: [2],
});

function configError(mutate: (c: ModelConfig) => void): ConfigError {
  const c = base();
  mutate(c);
  return thrownBy(ConfigError, () => resolveConfig(c));
}

describe('config validation', () => {
  const cases: [string, (c: ModelConfig) => void, string, RegExp][] = [
    ['zero tasks', (c) => (c.tasks = []), 'tasks', /at least one task/],
    ['gate with no experts', (c) => (c.levels[0] = { taskExperts: 0, sharedExperts: 0, expertWidths: [3] }), 'levels[0].taskExperts', /gate of task "a" has no experts/],
    ['zero width', (c) => (c.levels[0].expertWidths = [0]), 'levels[0].expertWidths[0]', /integer >= 1, got 0/],
    ['negative width', (c) => (c.towerWidths = [-2]), 'towerWidths[0]', /got -2/],
    ['non-integer width', (c) => (c.levels[0].expertWidths = [2.5]), 'levels[0].expertWidths[0]', /got 2.5/],
    ['no expert layers', (c) => (c.levels[0].expertWidths = []), 'levels[0].expertWidths', /at least one width/],
    ['unknown task type', (c) => ((c.tasks[1] as { type: string }).type = 'multiclass'), 'tasks[1].type', /"binary" or "regression", got "multiclass"/],
    ['negative weight', (c) => (c.tasks[0].weight = -1), 'tasks[0].weight', /finite number >= 0, got -1/],
    ['NaN weight', (c) => (c.tasks[0].weight = NaN), 'tasks[0].weight', /got NaN/],
    ['duplicate task names', (c) => (c.tasks[1].name = 'a'), 'tasks[1].name', /duplicate task name "a"/],
    ['per-task expert counts of the wrong length', (c) => (c.levels[0].taskExperts = [1, 1, 1]), 'levels[0].taskExperts', /3 entries but there are 2 tasks/],
    ['zero input width', (c) => (c.inputDim = 0), 'inputDim', /got 0/],
    ['no levels', (c) => (c.levels = []), 'levels', /at least one level/],
    ['gate bias not boolean', (c) => ((c as { gateBias: unknown }).gateBias = 'yes'), 'gateBias', /true or false/],
  ];
  for (const [label, mutate, field, message] of cases) {
    it(`rejects ${label}, naming ${field}`, () => {
      const e = configError(mutate);
      expect(e.field).toBe(field);
      expect(e.message).toMatch(message);
      expect(e.message.startsWith(`${field}: `)).toBe(true);
    });
  }

  it('rejects bad optimizer settings, naming the field', () => {
    expect(() => resolveOptimizer({ kind: 'adam', lr: NaN })).toThrow(/optimizer\.lr: must be a finite number >= 0, got NaN/);
    expect(() => resolveOptimizer({ kind: 'adam', lr: 1e-3, beta1: 1 })).toThrow(/optimizer\.beta1: must be in \[0, 1\)/);
    expect(() => resolveOptimizer({ kind: 'rmsprop' as 'adam', lr: 1e-3 })).toThrow(/optimizer\.kind/);
  });
});

describe('presets', () => {
  const tasks = base().tasks;
  it('CGC is one PLE level with a gate per task and no shared gate', () => {
    const spec = buildSpec(cgc({ inputDim: 4, tasks, taskExperts: 2, sharedExperts: 1, expertWidths: [3], towerWidths: [] }));
    expect(spec.levels).toHaveLength(1);
    expect(spec.levels[0].gates.map((g) => g.members)).toEqual([
      [0, 1, 4],
      [2, 3, 4],
    ]);
  });
  it('PLE levels below the last have a shared gate over all experts', () => {
    const spec = buildSpec(ple({ inputDim: 4, tasks, levels: 3, taskExperts: 1, sharedExperts: 2, expertWidths: [3], towerWidths: [] }));
    expect(spec.levels.map((l) => l.gates.map((g) => g.name))).toEqual([
      ['task0', 'task1', 'shared'],
      ['task0', 'task1', 'shared'],
      ['task0', 'task1'],
    ]);
    expect(spec.levels[0].gates[2].members).toEqual([0, 1, 2, 3]);
    expect(spec.levels[1].inDim).toBe(3);
  });
  it('MMoE has only shared experts and one gate per task', () => {
    const spec = buildSpec(mmoe({ inputDim: 4, tasks, experts: 3, expertWidths: [5], towerWidths: [2] }));
    expect(spec.levels[0].gates.map((g) => g.members)).toEqual([
      [0, 1, 2],
      [0, 1, 2],
    ]);
  });
  it('shared-bottom has no gate parameters', () => {
    const spec = buildSpec(sharedBottom({ inputDim: 4, tasks, bottomWidths: [5, 3], towerWidths: [2] }));
    expect(spec.levels[0].gates.every((g) => !g.hasParams)).toBe(true);
    expect(spec.params.some((p) => p.name.includes('gate'))).toBe(false);
    // 4x5+5 + 5x3+3 bottom, and per task 3x2+2 + 2x1+1 towers.
    expect(parameterCount(spec)).toBe(4 * 5 + 5 + 5 * 3 + 3 + 2 * (3 * 2 + 2 + 2 * 1 + 1));
  });
  it('single-task is a shared bottom with one tower', () => {
    const spec = buildSpec(singleTask({ inputDim: 4, task: { name: 'y', type: 'binary' }, bottomWidths: [3], towerWidths: [] }));
    expect(spec.numTasks).toBe(1);
    expect(spec.towerDims).toEqual([1]);
  });
});
