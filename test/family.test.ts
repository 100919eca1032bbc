/** The model-family switch (src/family.ts): options to configs, configs back to options, single-task data. */
import { describe, expect, it } from 'vitest';
import { cgc, ConfigError, mmoe, ple, resolveConfig, sharedBottom, singleTask } from '../src/config.js';
import { datasetForConfig, familyConfig, familyOptionsOf, MODEL_FAMILIES, type FamilyOptions } from '../src/family.js';
import { syntheticDataset } from '../src/data/sources.js';

const data = { inputDim: 6, tasks: [{ name: 'a', type: 'binary' as const }, { name: 'b', type: 'regression' as const }] };
const widths = { expertWidths: [8, 4], towerWidths: [3] };

describe('familyConfig', () => {
  it('builds each family as its own builder does', () => {
    const common = { ...data, towerWidths: [3] };
    expect(familyConfig({ family: 'ple', levels: 3, taskExperts: 1, sharedExperts: 2, ...widths }, data)).toEqual(ple({ ...common, levels: 3, taskExperts: 1, sharedExperts: 2, expertWidths: [8, 4] }));
    expect(familyConfig({ family: 'cgc', taskExperts: 2, sharedExperts: 1, ...widths }, data)).toEqual(cgc({ ...common, taskExperts: 2, sharedExperts: 1, expertWidths: [8, 4] }));
    expect(familyConfig({ family: 'mmoe', experts: 3, ...widths }, data)).toEqual(mmoe({ ...common, experts: 3, expertWidths: [8, 4] }));
    expect(familyConfig({ family: 'shared-bottom', ...widths }, data)).toEqual(sharedBottom({ ...common, bottomWidths: [8, 4] }));
    expect(familyConfig({ family: 'single-task', task: 'b', ...widths }, data)).toEqual(singleTask({ inputDim: 6, towerWidths: [3], task: data.tasks[1], bottomWidths: [8, 4] }));
    expect(familyConfig({ family: 'single-task', ...widths }, data).tasks).toEqual([data.tasks[0]]);
  });

  it('names the missing option, the unknown task and the unknown family', () => {
    const thrown = (o: FamilyOptions) => {
      try {
        familyConfig(o, data);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).message;
      }
      throw new Error('no error');
    };
    expect(thrown({ family: 'ple', taskExperts: 1, sharedExperts: 1, ...widths })).toMatch(/^levels: PLE needs levels/);
    expect(thrown({ family: 'single-task', task: 'c', ...widths })).toMatch(/^task: "c" is not a task of the data \(a, b\)/);
    expect(thrown({ family: 'moe' as never, ...widths })).toMatch(/^family: must be ple, cgc, mmoe, shared-bottom or single-task, got "moe"/);
  });
});

describe('familyOptionsOf', () => {
  const cases: FamilyOptions[] = [
    { family: 'ple', levels: 2, taskExperts: 1, sharedExperts: 3, ...widths },
    { family: 'cgc', taskExperts: 2, sharedExperts: 1, ...widths },
    { family: 'mmoe', experts: 3, ...widths },
    { family: 'shared-bottom', ...widths },
    { family: 'single-task', task: 'a', ...widths },
  ];
  it('rebuilds the same config in the family the hint names', () => {
    for (const o of cases) {
      const config = resolveConfig(familyConfig(o, data));
      const back = familyOptionsOf(config, o.family);
      expect(back.family).toBe(o.family);
      expect(resolveConfig(familyConfig(back, o.family === 'single-task' ? { ...data, tasks: config.tasks } : data))).toEqual(config);
    }
  });
  it('without a hint, picks a family that rebuilds the config', () => {
    for (const o of cases) {
      const config = resolveConfig(familyConfig(o, data));
      const back = familyOptionsOf(config);
      expect(MODEL_FAMILIES).toContain(back.family);
      expect(resolveConfig(familyConfig(back, { ...data, tasks: config.tasks }))).toEqual(config);
    }
    expect(familyOptionsOf(resolveConfig(familyConfig(cases[2], data))).family).toBe('mmoe');
    expect(familyOptionsOf(resolveConfig(familyConfig(cases[0], data)), 'mmoe').family).toBe('ple');
  });
});

describe('datasetForConfig', () => {
  it('keeps only the single task of a single-task model, row by row', () => {
    const ds = syntheticDataset({ inputDim: 4, correlation: 0.3, trainRows: 7, validationRows: 5, testRows: 0, seed: 2 });
    const config = familyConfig({ family: 'single-task', task: 'task2', ...widths }, ds);
    const one = datasetForConfig(ds, config);
    expect(one.tasks).toEqual([ds.tasks[1]]);
    expect(Array.from(one.train.labels)).toEqual(Array.from({ length: 7 }, (_, r) => ds.train.labels[r * 2 + 1]));
    expect(one.validation!.labels.length).toBe(5);
    expect(one.test).toBeUndefined();
    expect(datasetForConfig(ds, familyConfig({ family: 'mmoe', experts: 2, ...widths }, ds))).toBe(ds);
  });
});
