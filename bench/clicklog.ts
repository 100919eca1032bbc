/**
 * The click-log table (results/clicklog.md): PLE, MMoE, shared-bottom and
 * single-task models on the built-in click log (src/data/clicklog.ts) at a low
 * and a high task correlation, test AUC per task over seeds, beside the Bayes
 * AUC of the generating model's own probabilities (the best any model can
 * reach); and PLE with the conversion task masked to clicked rows (eq. 9) vs
 * trained on all rows with non-clicks as negatives, both scored on the clicked
 * test rows. Data is streamed like a file. The results file is rewritten after
 * every run, so an interrupted series leaves the runs it finished.
 * Usage: node --import tsx --import ./scripts/register-raw.mjs bench/clicklog.ts [--rows 80000] [--epochs 2] [--seeds 3] [--correlations 0,0.9] [--out results/clicklog.md]
 */
import { execSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { acquireNodeDevice, formatAdapter } from '../src/node.js';
import { mmoe, ple, sharedBottom, singleTask, type ModelConfig } from '../src/config.js';
import { parameterCount } from '../src/spec.js';
import { Trainer } from '../src/trainer.js';
import { fit } from '../src/training/fit.js';
import { evaluate } from '../src/training/evaluate.js';
import { Clicklog, clicklogSchema } from '../src/data/clicklog.js';
import { splitOfRow, streamDataset } from '../src/data/stream.js';
import type { StreamDataset } from '../src/data/dataset.js';
import { datasetForConfig } from '../src/family.js';
import { auc, expectedAuc } from '../src/metrics.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '80000' },
    epochs: { type: 'string', default: '2' },
    seeds: { type: 'string', default: '3' },
    correlations: { type: 'string', default: '0,0.9' },
    out: { type: 'string', default: 'results/clicklog.md' },
  },
});
const sizes = { rows: Number(values.rows), epochs: Number(values.epochs), batchSize: 1024, lr: 0.01, users: 1000, items: 200, dim: 8, test: 0.2, shuffleBuffer: 65536 };
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => i + 1);
const correlations = values.correlations!.split(',').map(Number);
const DATA_SEED = 1;
const commit = execSync('git rev-parse --short HEAD').toString().trim() + (execSync('git status --porcelain --untracked-files=no').toString().trim() ? ' (with uncommitted changes)' : '');

const common = (data: StreamDataset) => ({ inputDim: data.inputDim, embeddings: data.embeddings, towerWidths: [8] });
const models: Record<string, (data: StreamDataset) => ModelConfig> = {
  PLE: (d) => ple({ ...common(d), tasks: d.tasks, levels: 2, taskExperts: 1, sharedExperts: 2, expertWidths: [16] }),
  MMoE: (d) => mmoe({ ...common(d), tasks: d.tasks, experts: 4, expertWidths: [16] }),
  'shared-bottom': (d) => sharedBottom({ ...common(d), tasks: d.tasks, bottomWidths: [32] }),
};
const SINGLE = 'single-task (one model per task)';
const ALL_ROWS = 'PLE, conversion on all rows (non-clicks as negatives)';
const ARCHITECTURES = [...Object.keys(models), SINGLE];

/** The generating model on the test rows: Bayes AUCs (expected over the labels) and the true probabilities' AUC on the drawn labels. */
function ceiling(log: Clicklog) {
  const p = { click: [] as number[], conversion: [] as number[] };
  const y = { click: [] as number[], conversion: [] as number[] };
  for (let c = 0; c < log.chunks; c++) {
    const d = log.chunk(c);
    for (let r = 0; r < d.user.length; r++) {
      if (splitOfRow(c * log.chunkRows + r, DATA_SEED, { validation: 0, test: sizes.test }) !== 'test') continue;
      p.click.push(d.pClick[r]);
      y.click.push(d.click[r]);
      if (d.conversion[r] !== null) {
        p.conversion.push(d.pConversion[r]);
        y.conversion.push(d.conversion[r]!);
      }
    }
  }
  return {
    bayes: [expectedAuc(p.click, p.click), expectedAuc(p.conversion, p.conversion)],
    drawn: [auc(p.click, y.click), auc(p.conversion, y.conversion)],
    testRows: y.click.length,
    clicked: y.conversion.length,
  };
}

interface Setting {
  rho: number;
  ceiling: ReturnType<typeof ceiling>;
  /** run name -> per seed [click AUC, conversion AUC on clicked rows] */
  results: Record<string, number[][]>;
}
const settings: Setting[] = [];
const params: Record<string, number> = {};

const ctx = await acquireNodeDevice({ robustness: false });
const started = Date.now();

async function train(config: ModelConfig, data: StreamDataset, seed: number): Promise<Trainer> {
  const trainer = await Trainer.create(ctx, config, { batchSize: sizes.batchSize, seed, optimizer: { kind: 'adam', lr: sizes.lr } });
  await fit(trainer, { ...data, validation: undefined }, { epochs: sizes.epochs, seed, shuffleBuffer: sizes.shuffleBuffer });
  return trainer;
}

function mean(a: number[]) {
  return a.reduce((s, v) => s + v, 0) / a.length;
}
/** Sample standard deviation (n - 1). */
function sd(a: number[]) {
  return a.length < 2 ? NaN : Math.sqrt(a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / (a.length - 1));
}
const column = (runs: number[][], k: number) => runs.map((r) => r[k]);
const cell = (runs: number[][], k: number) => `${mean(column(runs, k)).toFixed(4)} ± ${sd(column(runs, k)).toFixed(4)}`;
const TASKS = ['click', 'conversion'];

/**
 * PLE against each other architecture per task: a win or a loss when the means
 * differ by more than the two standard deviations added (mean ± sd intervals
 * apart), a tie otherwise.
 */
function verdict(s: Setting): string[] {
  const ple = s.results.PLE;
  if (!ple || ple.length < 2) return [];
  return TASKS.map((task, k) => {
    const parts = ARCHITECTURES.filter((a) => a !== 'PLE' && (s.results[a]?.length ?? 0) >= 2).map((a) => {
      const diff = mean(column(ple, k)) - mean(column(s.results[a], k));
      const margin = sd(column(ple, k)) + sd(column(s.results[a], k));
      const word = diff > margin ? 'wins over' : diff < -margin ? 'loses to' : 'ties with';
      return `${word} ${a} (${diff >= 0 ? '+' : ''}${diff.toFixed(4)}, sd sum ${margin.toFixed(4)})`;
    });
    return `- ρ = ${s.rho}, ${task}: PLE ${parts.join('; ')}.`;
  });
}

function eq9(s: Setting): string {
  const a = s.results.PLE;
  const b = s.results[ALL_ROWS];
  if (!a || !b) return '';
  const gap = mean(column(a, 1)) - mean(column(b, 1));
  return `- ρ = ${s.rho}: masking conversion to clicked rows gives ${gap >= 0 ? '+' : ''}${gap.toFixed(4)} conversion AUC over non-clicks as negatives (${cell(a, 1)} vs ${cell(b, 1)}).`;
}

function report(): string[] {
  const seconds = (Date.now() - started) / 1000;
  const args = `--rows ${sizes.rows} --epochs ${sizes.epochs} --seeds ${seeds.length} --correlations ${correlations.join(',')}`;
  const paramsOf = (name: string) => (name === SINGLE ? `${params['single-task click']} + ${params['single-task conversion']}` : String(params[name === ALL_ROWS ? 'PLE' : name]));
  return [
    '# Click log: test AUC per task by task correlation',
    '',
    'The built-in click log (`--data clicklog`, `src/data/clicklog.ts`): user and item IDs with Zipf',
    'popularity (s = 1.05), 4 dense features, a click on every row and a conversion labelled only on',
    "clicked rows. Each task's logit has an ID effect of weight γ = 2 (a user effect, an item effect and a",
    "rank-4 user-item interaction); conversion's ID effect is ρ times click's plus √(1-ρ²) times its own,",
    'so ρ (`--correlation`) is the correlation of the two tasks\' ID effects, as p is in the MMoE paper\'s',
    "synthetic data: at 0 the tasks' ID effects are independent, at 1 they are the same (dense features: click f_0, f_1; conversion f_2).",
    '',
    `${sizes.rows} rows (data seed ${DATA_SEED}; ${sizes.users} users, ${sizes.items} items), split by row hash into train / test`,
    `(${1 - sizes.test} / ${sizes.test}). User and item IDs through embedding tables of width ${sizes.dim}`,
    '(a vocabulary each: every ID its own row); dense features standardised.',
    `${sizes.epochs} epochs of Adam (lr ${sizes.lr}, batch ${sizes.batchSize}) through a shuffle buffer of ${sizes.shuffleBuffer} rows;`,
    `mean ± sample standard deviation over model seeds ${seeds.join(', ')} (the data is the same for every seed).`,
    'Conversion AUC is over the clicked test rows.',
    '',
    '**Bayes AUC**: the AUC of the generating model\'s own probabilities, expected over the label draws',
    '(`expectedAuc` in `src/metrics.ts`), on the same test rows; no model can do better on them. **Drawn**: the',
    'same probabilities scored against the labels actually drawn (what a perfect model would measure here).',
    '',
    'Models: PLE 2 levels of 1 task + 2 shared experts of 16; MMoE 4 experts of 16; shared-bottom and',
    'single-task a 32-wide bottom; towers of 8. Parameters include the embedding tables.',
    '',
    ...settings.flatMap((s) => [
      `## ρ = ${s.rho}`,
      '',
      `${s.ceiling.testRows} test rows, ${s.ceiling.clicked} of them clicked.`,
      '',
      '| model | parameters | click AUC | conversion AUC |',
      '|---|---|---|---|',
      `| Bayes (generating model) | | ${s.ceiling.bayes[0].toFixed(4)} | ${s.ceiling.bayes[1].toFixed(4)} |`,
      `| drawn labels (generating model) | | ${s.ceiling.drawn[0].toFixed(4)} | ${s.ceiling.drawn[1].toFixed(4)} |`,
      ...Object.entries(s.results).map(([name, runs]) => `| ${name} | ${paramsOf(name)} | ${cell(runs, 0)} | ${cell(runs, 1)} |`),
      '',
    ]),
    '## What it shows',
    '',
    'PLE against each architecture, per setting and task (a win or loss when the means differ by more than',
    'the two standard deviations added, a tie otherwise):',
    '',
    ...settings.flatMap(verdict),
    '',
    "**Eq. 9, measured**: the last row of each table trains the same PLE with every row in the conversion",
    'task, a non-click counting as a non-conversion. Its conversion head then learns P(click and conversion)',
    'rather than P(conversion | click); the masked PLE row is the sample-space treatment of eq. 9.',
    '',
    ...settings.map(eq9),
    '',
    `Adapter: ${formatAdapter(ctx.adapter)}; ${os.cpus().length} CPU cores, load average ${os.loadavg()[0].toFixed(1)} at the end (the host was shared and loaded); ${seconds.toFixed(0)} s in all.`,
    '',
    `Commit ${commit}. Command: \`node --import tsx --import ./scripts/register-raw.mjs bench/clicklog.ts ${args}\``,
    '',
  ];
}

for (const rho of correlations) {
  const log = new Clicklog({ rows: sizes.rows, seed: DATA_SEED, users: sizes.users, items: sizes.items, taskCorrelation: rho });
  // Exact IDs (a vocabulary each): the log has fewer IDs than a hash table would need to avoid collisions.
  const schema = (conversionOnAllRows: boolean) => clicklogSchema({ embeddingDim: sizes.dim, conversionOnAllRows });
  const masked = (await streamDataset({ schema: schema(false), train: log.source(), validationFraction: 0, seed: DATA_SEED })).dataset;
  const allRows = (await streamDataset({ schema: schema(true), train: log.source(), validationFraction: 0, seed: DATA_SEED })).dataset;
  const setting: Setting = { rho, ceiling: ceiling(log), results: {} };
  settings.push(setting);
  const record = async (name: string, seed: number, v: number[]) => {
    (setting.results[name] ??= []).push(v);
    console.log(`rho ${rho} seed ${seed} ${name}: click AUC ${v[0]?.toFixed(4) ?? '-'}, conversion AUC ${v[1]?.toFixed(4) ?? '-'} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    await writeFile(values.out!, report().join('\n'));
  };
  for (const seed of seeds) {
    for (const [name, build] of Object.entries(models)) {
      const trainer = await train(build(masked), masked, seed);
      params[name] = parameterCount(trainer.spec);
      const test = await evaluate(trainer, masked.test!, masked.tasks);
      trainer.destroy();
      await record(name, seed, [test.tasks.click.auc!, test.tasks.conversion.auc!]);
    }
    const single: number[] = [];
    for (const task of masked.tasks) {
      const config = singleTask({ ...common(masked), task, bottomWidths: [32] });
      const data = datasetForConfig(masked, config);
      const trainer = await train(config, data, seed);
      params[`single-task ${task.name}`] = parameterCount(trainer.spec);
      single.push((await evaluate(trainer, data.test!, data.tasks)).tasks[task.name].auc!);
      trainer.destroy();
    }
    await record(SINGLE, seed, single);
    // PLE trained on all rows (no click: conversion 0), scored on the clicked test rows like the others.
    const trainer = await train(models.PLE(allRows), allRows, seed);
    const test = await evaluate(trainer, masked.test!, masked.tasks);
    trainer.destroy();
    await record(ALL_ROWS, seed, [test.tasks.click.auc!, test.tasks.conversion.auc!]);
  }
}

await writeFile(values.out!, report().join('\n'));
console.log(`wrote ${values.out}`);
ctx.device.destroy();
