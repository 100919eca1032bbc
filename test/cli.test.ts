/** The main job end to end, as `npm start` runs it, on tiny sizes; and its usage errors. */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readCheckpoint } from '../src/checkpoint/checkpoint.js';

const run = (args: string[]) =>
  promisify(execFile)('node', ['--import', 'tsx', '--import', './scripts/register-raw.mjs', 'src/cli/bin.ts', ...args], { cwd: process.cwd() }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('npm start', () => {
  it('trains on the synthetic default, prints a table, writes metrics and a checkpoint', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ple-cli-'));
    const r = await run(['--epochs', '2', '--train-rows', '256', '--eval-rows', '128', '--batch-size', '64', '--input-dim', '8', '--expert-widths', '8', '--tower-widths', '4', '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/adapter: /);
    expect(r.stdout).toMatch(/task1 MSE/);
    expect(r.stdout).toMatch(/^\s+2\s/m);
    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.epochs).toHaveLength(2);
    expect(metrics.test.tasks.task1.mse).toBeGreaterThan(0);
    expect(metrics.epochs[1].validation.gates.length).toBe(5);
    const ckpt = readCheckpoint(new Uint8Array(await readFile(join(out, 'checkpoint.safetensors'))));
    expect(ckpt.step).toBe(8);
    expect(ckpt.training).toMatchObject({ epoch: 2 });

    // Resume for one more epoch from the checkpoint.
    const r2 = await run(['--epochs', '3', '--train-rows', '256', '--eval-rows', '128', '--batch-size', '64', '--input-dim', '8', '--expert-widths', '8', '--tower-widths', '4', '--out', out, '--quiet', '--resume', join(out, 'checkpoint.safetensors')]);
    expect(r2.code, r2.stderr).toBe(0);
    const resumed = readCheckpoint(new Uint8Array(await readFile(join(out, 'checkpoint.safetensors'))));
    expect(resumed.step).toBe(12);
    expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')).epochs.map((e: { epoch: number }) => e.epoch)).toEqual([1, 2, 3]);

    // A run that blows up stops with the step and the task, and leaves the last good checkpoint as it was.
    const good = await readFile(join(out, 'checkpoint.safetensors'));
    const r3 = await run(['--epochs', '6', '--train-rows', '256', '--eval-rows', '128', '--batch-size', '64', '--input-dim', '8', '--expert-widths', '8', '--tower-widths', '4', '--out', out, '--quiet', '--resume', join(out, 'checkpoint.safetensors'), '--optimizer', 'sgd', '--lr', '1e6']);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/error: training stopped at step \d+: the (loss of task "task\d"|gradient norm|loss) is not finite/);
    expect((await readFile(join(out, 'checkpoint.safetensors'))).equals(good)).toBe(true);
  });

  it('trains on a CSV file with embeddings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ple-cli-csv-'));
    const lines = ['age,city,clicked,spend'];
    for (let i = 0; i < 200; i++) lines.push(`${20 + (i % 50)},${['a', 'b', 'c', '?'][i % 4]},${i % 3 === 0 ? 'yes' : 'no'},${i % 7 === 0 ? '' : (i % 13) * 1.5}`);
    await writeFile(join(dir, 'train.csv'), lines.join('\n') + '\n');
    const r = await run([
      '--data', 'csv', '--train', join(dir, 'train.csv'), '--label', 'click=clicked:binary:yes', '--label', 'spend=spend:regression',
      '--numeric', 'age', '--categorical', 'city', '--categorical-encoding', 'embedding', '--epochs', '1', '--batch-size', '32',
      '--expert-widths', '4', '--tower-widths', '2', '--out', dir, '--quiet',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const metrics = JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8'));
    expect(metrics.model.embeddings).toEqual([{ name: 'city', vocabulary: 4, dim: expect.any(Number) }]);
    expect(metrics.test.tasks.click.auc).toBeGreaterThanOrEqual(0);
    // The regression target trained standardised; the scaling and the family options are in the checkpoint.
    const training = readCheckpoint(new Uint8Array(await readFile(join(dir, 'checkpoint.safetensors')))).training as { targets: { tasks: { name: string; mean: number; std: number }[] }; model: unknown };
    expect(training.targets.tasks.map((t) => t.name)).toEqual(['spend']);
    expect(training.targets.tasks[0].mean).toBeGreaterThan(5);
    expect(training.targets.tasks[0].std).toBeGreaterThan(3);
    expect(metrics.targets).toEqual(training.targets);
    expect(training.model).toEqual({ family: 'ple', levels: 2, taskExperts: 2, sharedExperts: 2, expertWidths: [4], towerWidths: [2], gateBias: false, uncertaintyWeighting: false });
  });

  it('rejects bad flags with a message naming the flag', async () => {
    const r = await run(['--epochs', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--epochs must be an integer >= 1, got "many"/);
    const r2 = await run(['--model', 'transformer']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/--model must be ple, cgc, mmoe, shared-bottom or single-task/);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--correlation P/);
  });
});
